"""A schedule's refresh: run the artifact as the schedule's owner, record the outcome, pause
after repeated failures, and tell the alerts' subscribers.

Idempotent, as a job must be: the refresh of one due time is one `Refresh` row (unique per
schedule and due time), which keeps the run it recorded, so a refresh job that runs again
(its worker died) does not run the query again once its run is recorded (only a worker that
dies between recording the run and marking the refresh leaves it to run once more); and every
notification's key holds the run's id, so apps/notifications sends each one once.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import Profile
from apps.llm_artifact.charts.render import ChartRenderError, render_chart
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact
from apps.notifications.services import notify_in_app, send_email
from apps.notifications.webhooks import send_webhook, webhook_secret
from apps.schedules.conditions import fires
from apps.schedules.models import Alert, Refresh, Schedule, Subscription, rows_digest

logger = logging.getLogger(__name__)

# How many rows an email shows in its table and a webhook carries (the CSV has them all).
FIRST_ROWS = 10


def max_failures() -> int:
    return getattr(settings, "SCHEDULE_MAX_FAILURES", 3)


def refresh_schedule(schedule_id: int, due_at: dt.datetime) -> dict:
    """Refresh the schedule for its run due at `due_at`, then evaluate its alerts."""
    schedule = Schedule.objects.select_related("artifact", "owner").filter(pk=schedule_id).first()
    if schedule is None:
        return {"skipped": "The schedule was deleted."}
    refresh, _created = Refresh.objects.get_or_create(schedule=schedule, due_at=due_at)
    if refresh.outcome == Refresh.Outcome.RUNNING:
        columns, rows = _run(schedule, refresh)
    elif refresh.run_id and refresh.outcome == Refresh.Outcome.OK:
        # Run before by a worker that died before it finished telling people: tell them from
        # the rows the run kept (its first rows).
        run = refresh.run
        columns, rows = [c["name"] for c in run.columns or []], run.snapshot or []
    else:
        return {"refresh": refresh.pk, "outcome": refresh.outcome}
    if refresh.outcome == Refresh.Outcome.OK:
        evaluate_alerts(schedule, refresh, columns, rows)
    return {"refresh": refresh.pk, "outcome": refresh.outcome, "run": refresh.run_id}


def _run(schedule: Schedule, refresh: Refresh) -> tuple[list[str], list]:
    owner, artifact = schedule.owner, schedule.artifact
    run = result = None
    error = ""
    if not owner.is_active or not owner.has_perm("artifacts.run", artifact):
        error = _("The schedule's owner may no longer run this artifact.")
    else:
        try:
            run, result = run_artifact(artifact, user=owner, raw_params=schedule.params)
        except ValidationError as exc:
            error = _("The schedule's parameter values are no longer valid: %(problems)s") % {
                "problems": " ".join(exc.messages)
            }
        if run is not None and run.outcome != ArtifactRun.Outcome.OK:
            error = run.error or run.get_outcome_display()
    columns = [column.name for column in result.columns] if result else []
    rows = list(result.rows) if result else []
    outcome = Refresh.Outcome.FAILED if error else Refresh.Outcome.OK
    finished = Refresh.objects.filter(pk=refresh.pk, outcome=Refresh.Outcome.RUNNING).update(
        run=run,
        outcome=outcome,
        error=error,
        rows_hash=rows_digest(rows) if not error else "",
        finished_at=timezone.now(),
    )
    refresh.refresh_from_db()
    if finished:
        _record_outcome(schedule, refresh)
    return columns, rows


def _record_outcome(schedule: Schedule, refresh: Refresh) -> None:
    failed = refresh.outcome == Refresh.Outcome.FAILED
    Schedule.objects.filter(pk=schedule.pk).update(
        last_run_at=refresh.finished_at,
        last_outcome=Schedule.Outcome.FAILED if failed else Schedule.Outcome.OK,
        last_error=refresh.error,
        consecutive_failures=F("consecutive_failures") + 1 if failed else 0,
    )
    schedule.refresh_from_db()
    paused = (
        failed
        and schedule.consecutive_failures >= max_failures()
        and schedule.pause(_pause_reason(schedule, refresh))
    )
    if paused:
        _tell_owner_of_pause(schedule, refresh)


def _pause_reason(schedule: Schedule, refresh: Refresh) -> str:
    return _("Paused after %(n)s failed refreshes in a row. The last error: %(error)s") % {
        "n": schedule.consecutive_failures,
        "error": refresh.error,
    }


def recipient_language(user) -> translation.override:
    """Build what `user` reads in their language (the site's default without a profile)."""
    return translation.override(Profile.language_of(user) or settings.LANGUAGE_CODE)


def _tell_owner_of_pause(schedule: Schedule, refresh: Refresh) -> None:
    with recipient_language(schedule.owner):
        _tell_owner_of_pause_now(schedule, refresh, _pause_reason(schedule, refresh))


def _tell_owner_of_pause_now(schedule: Schedule, refresh: Refresh, reason: str) -> None:
    key = f"schedule:{schedule.pk}:paused:{refresh.pk}"
    title = _("Schedule paused: %(title)s") % {"title": schedule.artifact.title}
    url = schedule_page_url(schedule.artifact)
    notify_in_app(schedule.owner, key=key, title=title, body=reason, url=url)
    text = f"{reason}\n\n{_('Resume it on')} {site_url(url)}"
    send_email(schedule.owner, key=key, subject=title, text=text)


def schedule_page_url(artifact: Artifact) -> str:
    return reverse("schedules:artifact_schedules", args=[artifact.pk])


def site_url(path: str) -> str:
    """An absolute link for emails and webhook bodies, which are read off the site."""
    return settings.SITE_URL.rstrip("/") + path


def evaluate_alerts(schedule: Schedule, refresh: Refresh, columns: list[str], rows: list) -> None:
    previous = refresh.previous_hash()
    alerts = schedule.alerts.filter(enabled=True).prefetch_related("subscriptions__user")
    for alert in alerts:
        fired, why = fires(
            alert, columns, rows, rows_hash=refresh.rows_hash, previous_hash=previous
        )
        updates: dict[str, Any] = {"last_outcome": str(why)[:200]}
        if fired:
            updates["last_triggered_at"] = timezone.now()
        Alert.objects.filter(pk=alert.pk).update(**updates)
        if fired:
            deliver(alert, schedule.artifact, refresh, columns, rows, why)


def deliver(
    alert: Alert, artifact: Artifact, refresh: Refresh, columns: list[str], rows: list, why: str
) -> None:
    """Tell each subscriber who may still see the artifact, once per run and channel."""
    message = AlertMessage(alert, artifact, refresh, columns, rows, why)
    for subscription in alert.subscriptions.all():
        user = subscription.user
        if not user.is_active or not user.has_perm("artifacts.view", artifact):
            continue
        key = f"alert:{alert.pk}:run:{refresh.run_id}"
        if subscription.channel == Subscription.Channel.IN_APP:
            with recipient_language(user):
                notify_in_app(user, key=key, title=message.title(), body=str(why), url=message.path)
        elif subscription.channel == Subscription.Channel.EMAIL:
            with recipient_language(user):
                send_email(
                    user,
                    key=key,
                    subject=message.title(),
                    text=message.text(),
                    html=message.html(),
                    attachments=message.attachments,
                )
        elif user.has_perm("artifacts.change", artifact):
            # A webhook speaks for whoever set it up: only while they may still edit. Its
            # sentences are in the site's default language; its values are machine formats.
            with translation.override(settings.LANGUAGE_CODE):
                send_webhook(
                    subscription.webhook_url,
                    key=f"{key}:webhook:{subscription.pk}",
                    payload=message.payload(),
                    secret=webhook_secret(alert.webhook_scope()),
                )


class AlertMessage:
    """One fired alert, as a notification, an email and a webhook body.

    The texts are built in the language active when they are asked for (each recipient's);
    the attachments are machine formats, made once for every recipient.
    """

    def __init__(self, alert, artifact, refresh, columns, rows, why) -> None:
        self.alert, self.artifact, self.refresh = alert, artifact, refresh
        self.columns, self.rows, self.why = columns, rows, why
        self.path = artifact.get_absolute_url()

    def title(self) -> str:
        return _("Alert %(alert)s: %(title)s") % {
            "alert": self.alert.name,
            "title": self.artifact.title,
        }

    def context(self) -> dict:
        return {
            "alert": self.alert,
            "artifact": self.artifact,
            "why": str(self.why),
            "columns": self.columns,
            "rows": [[_shown(value) for value in row] for row in self.rows[:FIRST_ROWS]],
            "row_count": len(self.rows),
            "url": site_url(self.path),
        }

    def text(self) -> str:
        return render_to_string("schedules/alert_email.txt", self.context())

    def html(self) -> str:
        return render_to_string("schedules/alert_email.html", self.context())

    @functools.cached_property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        files = [("result.csv", buffer.getvalue().encode("utf-8"), "text/csv")]
        if self.artifact.visualization_config:
            try:
                png = render_chart(
                    self.artifact.visualization_config, self.columns, self.rows, fmt="png"
                )
            except (ChartRenderError, ValueError) as exc:
                logger.warning("Alert %s: the chart was not drawn: %s", self.alert.pk, exc)
            else:
                files.append(("chart.png", png, "image/png"))
        return files

    def payload(self) -> dict:
        return {
            "artifact": {
                "id": self.artifact.pk,
                "title": self.artifact.title,
                "url": site_url(self.path),
            },
            "run": {
                "id": self.refresh.run_id,
                "due_at": self.refresh.due_at.isoformat(),
                "row_count": len(self.rows),
            },
            "condition": {
                "alert": self.alert.pk,
                "name": self.alert.name,
                "condition": self.alert.condition,
                "description": self.alert.describe(),
                "why": str(self.why),
            },
            "columns": self.columns,
            "rows": [[_plain(value) for value in row] for row in self.rows[:FIRST_ROWS]],
        }


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
