"""A schedule's refresh: run the artifact as the schedule's owner, record the outcome, pause
after repeated failures, and tell the alerts' subscribers.

Idempotent, as a job must be: the refresh of one due time is one `Refresh` row (unique per
schedule and due time), which keeps the run it recorded, so a refresh job that runs again
(its worker died) does not run the query again once its run is recorded (only a worker that
dies between recording the run and marking the refresh leaves it to run once more); and every
notification's key holds the run's id, so apps/notifications sends each one once.

What a refresh runs is what "run" means for the artifact's type (apps/llm_artifact/types):
an SQL query's SQL; a dashboard's tiles that the owner may see; a report's blocks. Only SQL
artifacts have rows for the alerts' conditions: a dashboard or report takes "always" alerts,
delivered as its own email (DashboardMessage, ReportMessage). Such a refresh keeps no single
run, so a job that runs again after its refresh was recorded runs the tiles or blocks again
to build the message; its notifications' keys hold the refresh's id instead of a run's.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.accounts.models import Profile
from apps.llm_artifact import types
from apps.llm_artifact.charts.render import ChartRenderError, render_chart
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.reports.export import PdfFailed, export_filename, report_html, report_pdf
from apps.llm_artifact.reports.render import RerunOutcome, render_report
from apps.llm_artifact.types.dashboard import DashboardDocument
from apps.llm_artifact.types.report import markdown_of
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
    uses_sql = types.of(schedule.artifact).uses_sql
    if refresh.outcome == Refresh.Outcome.RUNNING:
        ran = _run(schedule, refresh)
    elif refresh.outcome == Refresh.Outcome.OK and uses_sql and refresh.run_id:
        # Run before by a worker that died before it finished telling people: tell them from
        # the rows the run kept (its first rows).
        run = refresh.run
        ran = Ran(columns=[c["name"] for c in run.columns or []], rows=run.snapshot or [])
    elif refresh.outcome == Refresh.Outcome.OK and not uses_sql:
        # A dashboard or report keeps no single run to tell people from: run it again (the
        # notifications' keys hold the refresh, so nobody hears of it twice).
        ran = _run_type(schedule)
        if ran.error:
            return {"refresh": refresh.pk, "outcome": refresh.outcome, "error": ran.error}
    else:
        return {"refresh": refresh.pk, "outcome": refresh.outcome}
    if refresh.outcome == Refresh.Outcome.OK:
        evaluate_alerts(schedule, refresh, ran.columns, ran.rows, tiles=ran.tiles)
    return {"refresh": refresh.pk, "outcome": refresh.outcome, "run": refresh.run_id}


@dataclass
class Ran:
    """What one refresh ran: an SQL artifact's run and rows, or a dashboard's tiles (each a
    types.dashboard.TileRun), or a report's re-run; `error` says why it failed."""

    run: ArtifactRun | None = None
    columns: list[str] = field(default_factory=list)
    rows: list = field(default_factory=list)
    tiles: list = field(default_factory=list)
    error: str = ""


def _run_type(schedule: Schedule) -> Ran:
    """Run the artifact as its type says "run" means, as the schedule's owner (who may run
    only what they may see: a dashboard runs the tiles they may see, a report its blocks)."""
    owner, artifact = schedule.owner, schedule.artifact
    if not owner.is_active or not owner.has_perm("artifacts.run", artifact):
        return Ran(error=_("The schedule's owner may no longer run this artifact."))
    spec = types.of(artifact)
    try:
        outcome = spec.run(artifact, user=owner, raw_params=schedule.params)
    except ValidationError as exc:
        return Ran(
            error=_("The schedule's parameter values are no longer valid: %(problems)s")
            % {"problems": " ".join(exc.messages)}
        )
    if spec.uses_sql:
        run, result = outcome
        ran = Ran(run=run)
        if result is not None:
            ran.columns = [column.name for column in result.columns]
            ran.rows = list(result.rows)
        if run is not None and run.outcome != ArtifactRun.Outcome.OK:
            ran.error = run.error or run.get_outcome_display()
        return ran
    if isinstance(outcome, RerunOutcome):  # a report's blocks
        return Ran(error=" ".join(outcome.problems))
    # A dashboard's tiles.
    problems = []
    for tile_run in outcome:
        title = tile_run.tile.title
        if tile_run.problems:
            problems.append(f"“{title}”: {' '.join(tile_run.problems)}")
        elif tile_run.result is None and tile_run.run is not None:
            error = tile_run.run.error or tile_run.run.get_outcome_display()
            problems.append(f"“{title}”: {error}")
    return Ran(tiles=list(outcome), error=" ".join(problems))


def _run(schedule: Schedule, refresh: Refresh) -> Ran:
    ran = _run_type(schedule)
    outcome = Refresh.Outcome.FAILED if ran.error else Refresh.Outcome.OK
    finished = Refresh.objects.filter(pk=refresh.pk, outcome=Refresh.Outcome.RUNNING).update(
        run=ran.run,
        outcome=outcome,
        error=ran.error,
        rows_hash=rows_digest(ran.rows) if not ran.error and ran.run else "",
        finished_at=timezone.now(),
    )
    refresh.refresh_from_db()
    if finished:
        _record_outcome(schedule, refresh)
    return ran


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


def evaluate_alerts(
    schedule: Schedule,
    refresh: Refresh,
    columns: list[str],
    rows: list,
    *,
    tiles: list | None = None,
) -> None:
    previous = refresh.previous_hash()
    uses_sql = types.of(schedule.artifact).uses_sql
    alerts = schedule.alerts.filter(enabled=True).prefetch_related("subscriptions__user")
    for alert in alerts:
        if uses_sql or alert.condition == Alert.Condition.ALWAYS:
            fired, why = fires(
                alert, columns, rows, rows_hash=refresh.rows_hash, previous_hash=previous
            )
        else:  # Alert.clean refuses these; a row written by hand is told so, not run.
            fired, why = False, Alert.ROWS_ONLY
        updates: dict[str, Any] = {"last_outcome": str(why)[:200]}
        if fired:
            updates["last_triggered_at"] = timezone.now()
        Alert.objects.filter(pk=alert.pk).update(**updates)
        if fired:
            deliver(alert, schedule.artifact, refresh, columns, rows, why, tiles=tiles or [])


def deliver(
    alert: Alert,
    artifact: Artifact,
    refresh: Refresh,
    columns: list[str],
    rows: list,
    why: str,
    *,
    tiles: list | None = None,
) -> None:
    """Tell each subscriber who may still see the artifact, once per run and channel; each
    reads the message as they may see it (a dashboard's tiles, a report's blocks)."""
    message_class = MESSAGES.get(artifact.artifact_type, AlertMessage)
    # An SQL refresh records one run; a dashboard's or report's refresh is the unit.
    once = f"run:{refresh.run_id}" if refresh.run_id else f"refresh:{refresh.pk}"
    key = f"alert:{alert.pk}:{once}"
    for subscription in alert.subscriptions.all():
        user = subscription.user
        if not user.is_active or not user.has_perm("artifacts.view", artifact):
            continue
        message = message_class(alert, artifact, refresh, columns, rows, why, user, tiles or [])
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

    def __init__(self, alert, artifact, refresh, columns, rows, why, viewer, tiles=()) -> None:
        self.alert, self.artifact, self.refresh = alert, artifact, refresh
        self.columns, self.rows, self.why = columns, rows, why
        self.viewer, self.tiles = viewer, list(tiles)
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


class DashboardMessage(AlertMessage):
    """A dashboard delivered: each tile the subscriber may see, with its number or its row
    count, and each chart tile's chart as a PNG attachment."""

    def visible_tiles(self) -> list:
        return [
            tile_run
            for tile_run in self.tiles
            if self.viewer.has_perm("artifacts.view", tile_run.tile.artifact)
        ]

    def artifact_tile_count(self) -> int:
        document = DashboardDocument.of(self.artifact.document)
        return sum(1 for tile in document.tiles if tile.kind == "artifact")

    def _chart_name(self, tile_run) -> str:
        return f"{tile_run.tile.doc.id}-{slugify(tile_run.tile.title) or 'chart'}.png"

    def _charted(self, tile_run) -> bool:
        return bool(
            tile_run.tile.doc.show == "chart"
            and tile_run.result is not None
            and tile_run.tile.artifact.visualization_config
        )

    def context(self) -> dict:
        shown = self.visible_tiles()
        tiles = [
            {
                "title": tile_run.tile.title,
                "number": tile_run.number_text,
                "change": tile_run.change_text,
                "row_count": tile_run.result.row_count if tile_run.result is not None else None,
                "problem": " ".join(tile_run.problems)
                or (tile_run.run.error if tile_run.result is None and tile_run.run else ""),
                "chart": self._chart_name(tile_run) if self._charted(tile_run) else "",
            }
            for tile_run in shown
        ]
        return {
            "alert": self.alert,
            "artifact": self.artifact,
            "why": self.why,
            "tiles": tiles,
            # Every artifact tile the subscriber does not get: hidden from the schedule's
            # owner (not run) or from the subscriber.
            "hidden_count": self.artifact_tile_count() - len(shown),
            "url": site_url(self.path),
        }

    def text(self) -> str:
        return render_to_string("schedules/dashboard_email.txt", self.context())

    def html(self) -> str:
        return render_to_string("schedules/dashboard_email.html", self.context())

    @functools.cached_property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        files = []
        for tile_run in self.visible_tiles():
            if not self._charted(tile_run):
                continue
            result = tile_run.result
            try:
                png = render_chart(
                    tile_run.tile.artifact.visualization_config,
                    [column.name for column in result.columns],
                    result.rows,
                    fmt="png",
                )
            except (ChartRenderError, ValueError) as exc:
                logger.warning("Dashboard %s: a chart was not drawn: %s", self.artifact.pk, exc)
                continue
            files.append((self._chart_name(tile_run), png, "image/png"))
        return files

    def payload(self) -> dict:
        body = super().payload()
        body["tiles"] = [
            {key: tile[key] for key in ("title", "number", "change", "row_count", "problem")}
            for tile in self.context()["tiles"]
        ]
        return body


class ReportMessage(AlertMessage):
    """A report delivered: its HTML export as the email (what the subscriber may see of it,
    from the runs the refresh just made), the same file attached, and its PDF."""

    def export(self) -> str:
        if not hasattr(self, "_export"):
            rendered = render_report(
                markdown_of(self.artifact), self.viewer, absolute=settings.SITE_URL.rstrip("/")
            )
            self._export = report_html(
                self.artifact.title, rendered, description=self.artifact.description
            )
        return self._export

    def text(self) -> str:
        return render_to_string("schedules/report_email.txt", self.context())

    def html(self) -> str:
        return self.export()

    @functools.cached_property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        html = self.export()
        files = [(export_filename(self.artifact.title, "html"), html.encode("utf-8"), "text/html")]
        try:
            pdf = report_pdf(html)
        except PdfFailed as exc:
            logger.warning("Report %s: the PDF was not made: %s", self.artifact.pk, exc)
        else:
            files.append((export_filename(self.artifact.title, "pdf"), pdf, "application/pdf"))
        return files


# How each type's delivery reads; SQL types use AlertMessage (their rows, CSV and chart).
MESSAGES: dict[str, type[AlertMessage]] = {
    "dashboard": DashboardMessage,
    "report": ReportMessage,
}


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
