"""Who may do what with an artifact, as `user.has_perm(name, artifact)`; the same rule as
ArtifactQuerySet.visible_to / editable_by (apps.accounts.sharing), which lists use.

The names are ours rather than Django's model permissions (llm_artifact.view_artifact and
so on): those stay the admin's, given per user and group, and asking them without an object
must not grant staff anything the admin would not.
"""

import rules

from apps.accounts.rules import can_edit, can_manage, can_see

# See, run with one's own parameter values, export, chart, use as a template.
rules.add_perm("artifacts.view", can_see)
rules.add_perm("artifacts.run", can_see)
# Change SQL, parameters, chart, texts, status.
rules.add_perm("artifacts.change", can_edit)
# Delete, change sharing, hand to another owner.
rules.add_perm("artifacts.delete", can_manage)
rules.add_perm("artifacts.share", can_manage)
