"""Who may do what with schedules, alerts and subscriptions: the artifact's sharing decides.

Whoever may see the artifact sees its schedules and alerts and may subscribe themselves (in-app
or by email); its owner and editors (artifacts.change) create, change, pause and delete
schedules, alerts and webhooks. Lists use the querysets of the same rule
(Schedule.objects.visible_to / editable_by).
"""

import rules


@rules.predicate
def can_see_artifact(user, row) -> bool:
    return row is not None and user.has_perm("artifacts.view", _artifact(row))


@rules.predicate
def can_edit_artifact(user, row) -> bool:
    return row is not None and user.has_perm("artifacts.change", _artifact(row))


@rules.predicate
def is_subscriber(user, row) -> bool:
    return row is not None and getattr(row, "user_id", None) == user.pk


def _artifact(row):
    """The artifact of a schedule, an alert or a subscription."""
    while not hasattr(row, "artifact"):
        row = getattr(row, "schedule", None) or row.alert
    return row.artifact


rules.add_perm("schedules.view", can_see_artifact)
rules.add_perm("schedules.subscribe", can_see_artifact)
rules.add_perm("schedules.change", can_edit_artifact)
# Unsubscribing: yourself, or anyone's subscription on an alert you may edit.
rules.add_perm("schedules.unsubscribe", can_see_artifact & (is_subscriber | can_edit_artifact))
