"""The queue as operators see it: every background job with its status, progress, worker and
lease, its attempts and their errors; counts by status above the list; Retry and Cancel.

Jobs are records of work, written by the workers: every field is read-only here, and the only
changes are the verbs (Job.retry, Job.request_cancel), which take the same conditional paths as
everywhere else, so an operator and a worker never overwrite each other.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend

from apps.core.admin import badge, change_link
from apps.jobs.models import Job, JobAttempt

STATUS_COLOURS = {
    Job.Status.QUEUED: "#666",
    Job.Status.RUNNING: "#2a6ebb",
    Job.Status.SUCCEEDED: "#2e7d32",
    Job.Status.FAILED: "#ba2121",
    Job.Status.CANCELLED: "#8a6d3b",
}
OUTCOME_COLOURS = {
    JobAttempt.Outcome.RUNNING: "#2a6ebb",
    JobAttempt.Outcome.SUCCEEDED: "#2e7d32",
    JobAttempt.Outcome.FAILED: "#ba2121",
    JobAttempt.Outcome.RETRYING: "#8a6d3b",
    JobAttempt.Outcome.CANCELLED: "#8a6d3b",
    JobAttempt.Outcome.TIMED_OUT: "#ba2121",
    JobAttempt.Outcome.LOST: "#ba2121",
}
# The database queue's own rows (django-tasks-db's admin), for operators who look underneath.
TASK_ROWS = "django_tasks_database_dbtaskresult"


def _queue_backend():
    return task_backends[DEFAULT_TASK_BACKEND_ALIAS]


def _task_rows_url() -> str:
    """The database queue's task list; none when the queue is elsewhere (RQ on Redis)."""
    if isinstance(_queue_backend(), DatabaseBackend):
        return reverse(f"admin:{TASK_ROWS}_changelist")
    return ""


class JobAttemptInline(admin.TabularInline):
    model = JobAttempt
    extra = 0
    can_delete = False
    fields = ("number", "worker", "outcome_badge", "started_at", "finished_at", "duration", "error")
    readonly_fields = fields
    # Newest first; numbers start again at 1 after an operator's retry.
    ordering = ("-started_at", "-pk")

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    @admin.display(description=_("outcome"))
    def outcome_badge(self, attempt: JobAttempt) -> SafeString:
        return badge(OUTCOME_COLOURS[attempt.outcome], attempt.get_outcome_display())


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "short_name",
        "status_badge",
        "progress_display",
        "attempts_display",
        "lease_display",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "error_display",
    )
    list_filter = ("status", "name", "queue_name")
    list_select_related = ("requested_by",)
    search_fields = ("=id", "name", "key", "error", "lease_owner")
    date_hierarchy = "created_at"
    list_per_page = 50
    inlines = [JobAttemptInline]
    actions = ["retry_jobs", "cancel_jobs"]
    readonly_fields = (
        "id",
        "name",
        "status_badge",
        "arguments",
        "key",
        "requested_by",
        "queue_name",
        "progress_display",
        "result",
        "error",
        "attempts_display",
        "time_limit",
        "lease_owner",
        "lease_expires_at",
        "cancel_requested_at",
        "due_at",
        "created_at",
        "started_at",
        "finished_at",
        "task_row",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are enqueued by the code that needs them, never typed in

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        counts = Job.objects.status_counts()
        extra = {
            "status_counts": [
                {"status": status, "label": label, "number": counts[status]}
                for status, label in Job.Status.choices
            ],
            "lapsed": Job.objects.lapsed().count(),
            "backend": _queue_backend().__class__.__name__,
            "task_rows_url": _task_rows_url(),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing to save: every field is the workers' record.
        extra = {"show_save": False, "show_save_and_continue": False}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description=_("job"), ordering="name")
    def short_name(self, job: Job) -> str:
        return job.short_name

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, job: Job) -> SafeString:
        return badge(STATUS_COLOURS[job.status], job.get_status_display())

    @admin.display(description=_("progress"), ordering="progress")
    def progress_display(self, job: Job) -> str:
        if job.status == Job.Status.QUEUED and not job.progress:
            return "-"
        percent = f"{job.progress:.0%}"
        return f"{percent} · {job.progress_text}" if job.progress_text else percent

    @admin.display(description=_("attempts"), ordering="attempts")
    def attempts_display(self, job: Job) -> str:
        return f"{job.attempts} / {job.max_attempts}"

    @admin.display(description=_("worker and lease"), ordering="lease_expires_at")
    def lease_display(self, job: Job) -> SafeString | str:
        if job.status != Job.Status.RUNNING or not job.lease_expires_at:
            return "-"
        seconds = (job.lease_expires_at - timezone.now()).total_seconds()
        if seconds < 0:
            return format_html(
                '{} <span style="color:#ba2121">{}</span>',
                job.lease_owner,
                gettext("lease lapsed %(seconds)d s ago") % {"seconds": -seconds},
            )
        return format_html(
            "{} ({})", job.lease_owner, gettext("lease %(seconds)d s left") % {"seconds": seconds}
        )

    @admin.display(description=_("error"))
    def error_display(self, job: Job) -> str:
        return Truncator(job.error).chars(120) if job.error else ""

    @admin.display(description=_("queue task"))
    def task_row(self, job: Job) -> SafeString | str:
        if not job.task_result_id:
            return "-"
        if _task_rows_url():
            return change_link(TASK_ROWS, job.task_result_id, job.task_result_id)
        return job.task_result_id

    @admin.action(description=_("Retry the selected failed or cancelled jobs"))
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        retried = [job for job in queryset if job.retry()]
        self._log(request, retried, gettext("Retried."))
        skipped = queryset.count() - len(retried)
        message = ngettext(
            "%(count)d job queued again.", "%(count)d jobs queued again.", len(retried)
        ) % {"count": len(retried)}
        if skipped:
            message += " " + ngettext(
                "%(count)d was not failed or cancelled, so it was left alone.",
                "%(count)d were not failed or cancelled, so they were left alone.",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)

    @admin.action(description=_("Cancel the selected jobs"))
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        selected = list(queryset)
        was_running = {job.pk for job in selected if job.status == Job.Status.RUNNING}
        cancelled = [job for job in selected if job.request_cancel()]
        self._log(request, cancelled, gettext("Cancel requested."))
        stopping = sum(1 for job in cancelled if job.pk in was_running)
        parts = [
            ngettext(
                "%(count)d waiting job cancelled.",
                "%(count)d waiting jobs cancelled.",
                len(cancelled) - stopping,
            )
            % {"count": len(cancelled) - stopping}
        ]
        if stopping:
            parts.append(
                ngettext(
                    "%(count)d running job asked to stop.",
                    "%(count)d running jobs asked to stop.",
                    stopping,
                )
                % {"count": stopping}
            )
        if finished := len(selected) - len(cancelled):
            parts.append(
                ngettext(
                    "%(count)d had already finished.", "%(count)d had already finished.", finished
                )
                % {"count": finished}
            )
        level = messages.SUCCESS if cancelled else messages.WARNING
        self.message_user(request, " ".join(parts), level)

    def _log(self, request: HttpRequest, jobs: list[Job], message: str) -> None:
        if jobs:
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=jobs,
                action_flag=CHANGE,
                change_message=message,
            )
