"""Admin for schedules and alerts: their last outcome, and the operators' verbs (pause,
resume, run now)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import badge, changelist_link
from apps.schedules import tasks
from apps.schedules.models import Alert, Refresh, Schedule, Subscription

OUTCOME_COLOURS = {"ok": "#198754", "failed": "#dc3545", "running": "#0d6efd"}


def outcome_badge(outcome: str, label: str):
    if not outcome:
        return "—"
    return badge(OUTCOME_COLOURS.get(outcome, "#6c757d"), label)


class AlertInline(admin.TabularInline):
    model = Alert
    extra = 0
    fields = ["name", "condition", "column", "operator", "threshold", "enabled", "last_outcome"]
    readonly_fields = ["last_outcome"]
    show_change_link = True


class RefreshInline(admin.TabularInline):
    model = Refresh
    extra = 0
    fields = ["due_at", "outcome", "run", "error", "finished_at", "jobs"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-due_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run")

    @admin.display(description=_("jobs"))
    def jobs(self, refresh: Refresh):
        """The refresh's job(s) in the Job admin: one per due time (its key), its attempts and
        errors there."""
        key = tasks.refresh_key(refresh.schedule_id, refresh.due_at)
        return changelist_link(
            "jobs_job", {"name": tasks.refresh_schedule.name, "key": key}, _("Job")
        )


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "artifact",
        "timetable",
        "owner",
        "enabled",
        "next_run_at",
        "last_run_at",
        "last_outcome_badge",
        "consecutive_failures",
        "alert_count",
    ]
    list_select_related = ["artifact", "owner"]
    list_filter = ["enabled", "kind", "last_outcome"]
    search_fields = ["artifact__title", "owner__username", "cron"]
    raw_id_fields = ["artifact", "owner"]
    readonly_fields = [
        "next_run_at",
        "last_run_at",
        "last_outcome",
        "last_error",
        "consecutive_failures",
        "created_at",
        "updated_at",
        "jobs",
    ]
    inlines = [AlertInline, RefreshInline]
    actions = ["pause", "resume", "run_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(alert_total=Count("alerts"))

    @admin.display(description=_("jobs"))
    def jobs(self, schedule: Schedule):
        """Every refresh job of this schedule in the Job admin (their keys start alike)."""
        if schedule.pk is None:
            return "—"
        filters = {
            "name": tasks.refresh_schedule.name,
            "key__startswith": f"schedule:{schedule.pk}:",
        }
        return changelist_link("jobs_job", filters, _("Refresh jobs"))

    @admin.display(description=_("timetable"))
    def timetable(self, schedule: Schedule) -> str:
        return schedule.describe()

    @admin.display(description=_("alerts"), ordering="alert_total")
    def alert_count(self, schedule: Schedule) -> int:
        return schedule.alert_total

    @admin.display(description=_("last outcome"), ordering="last_outcome")
    def last_outcome_badge(self, schedule: Schedule):
        return outcome_badge(schedule.last_outcome, schedule.get_last_outcome_display())

    def save_model(self, request, obj: Schedule, form, change: bool) -> None:
        # A changed timetable counts from now; a paused schedule has no next run.
        obj.next_run_at = obj.next_run_after(timezone.now()) if obj.enabled else None
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Pause the selected schedules"))
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        paused = sum(s.pause(str(_("Paused by an operator."))) for s in queryset)
        self.message_user(
            request, ngettext("%d schedule paused.", "%d schedules paused.", paused) % paused
        )

    @admin.action(description=_("Resume the selected schedules"))
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        schedules = list(queryset)
        for schedule in schedules:
            schedule.resume()
        count = len(schedules)
        self.message_user(
            request, ngettext("%d schedule resumed.", "%d schedules resumed.", count) % count
        )

    @admin.action(description=_("Run the selected schedules now"))
    def run_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        schedules = list(queryset)
        for schedule in schedules:
            tasks.run_now(schedule, request.user)
        count = len(schedules)
        self.message_user(
            request,
            ngettext("%d refresh queued.", "%d refreshes queued.", count) % count,
            messages.SUCCESS,
        )


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    fields = ["user", "channel", "webhook_url"]
    raw_id_fields = ["user"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "schedule",
        "condition_text",
        "enabled",
        "last_triggered_at",
        "last_outcome",
        "subscriber_count",
    ]
    list_select_related = ["schedule__artifact"]
    list_filter = ["enabled", "condition"]
    search_fields = ["name", "schedule__artifact__title"]
    raw_id_fields = ["schedule", "owner"]
    readonly_fields = ["last_triggered_at", "last_outcome", "created_at"]
    inlines = [SubscriptionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(subscriber_total=Count("subscriptions"))

    @admin.display(description=_("condition"))
    def condition_text(self, alert: Alert) -> str:
        return alert.describe()

    @admin.display(description=_("subscribers"), ordering="subscriber_total")
    def subscriber_count(self, alert: Alert) -> int:
        return alert.subscriber_total
