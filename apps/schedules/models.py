"""Schedules (an artifact refreshed on a timetable, as its owner), the refreshes they made,
and the alerts and subscriptions that tell people about a refresh's result.

Who may do what follows the artifact's sharing (apps/schedules/rules.py): whoever may see the
artifact sees its schedules and alerts and may subscribe themselves in-app or by email; its
owner and editors create, change and delete schedules, alerts and webhooks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.llm_artifact import types
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import resolve_values
from apps.notifications.webhooks import validate_webhook_url
from apps.schedules import timing


class ScheduleQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> ScheduleQuerySet:
        """Schedules of the artifacts `user` may see (the artifact's sharing rule, once)."""
        return self.filter(artifact__in=Artifact.objects.visible_to(user)._one_piece())

    def editable_by(self, user: Any) -> ScheduleQuerySet:
        return self.filter(artifact__in=Artifact.objects.editable_by(user))

    def due(self, now: dt.datetime | None = None) -> ScheduleQuerySet:
        return self.filter(enabled=True, next_run_at__lte=now or timezone.now())


class Schedule(models.Model):
    class Kind(models.TextChoices):
        EVERY_MINUTES = "minutes", _("Every N minutes")
        HOURLY = "hourly", _("Hourly")
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")
        CRON = "cron", _("Cron expression")

    class Outcome(models.TextChoices):
        NONE = "", _("Not run yet")
        OK = "ok", _("Refreshed")
        FAILED = "failed", _("Failed")

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    # A schedule belongs to its artifact (any type) and goes with it.
    artifact = models.ForeignKey(
        Artifact, on_delete=models.CASCADE, related_name="schedules", verbose_name=_("artifact")
    )
    # Who made it: refreshes run as this user, with their permissions at the time.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="schedules",
        verbose_name=_("owner"),
    )
    kind = models.CharField(_("repeats"), max_length=16, choices=Kind.choices)
    every_minutes = models.PositiveIntegerField(
        _("every (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    minute = models.PositiveSmallIntegerField(
        _("at minute"), null=True, blank=True, validators=[MaxValueValidator(59)]
    )
    time_of_day = models.TimeField(_("at time"), null=True, blank=True)
    weekday = models.PositiveSmallIntegerField(
        _("on"), null=True, blank=True, choices=Weekday.choices
    )
    cron = models.CharField(_("cron expression"), max_length=100, blank=True)
    # Raw values as a run form takes them: relative dates ("today -7 days") stay relative
    # and are resolved at each refresh.
    params = models.JSONField(_("parameter values"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    paused_reason = models.CharField(_("why paused"), max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_outcome = models.CharField(
        _("last outcome"), max_length=16, choices=Outcome.choices, blank=True, default=""
    )
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["artifact", "pk"]
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        indexes = [
            models.Index(
                fields=["next_run_at"], condition=Q(enabled=True), name="schedule_due_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["minutes", "hourly", "daily", "weekly", "cron"]),
                name="schedule_kind_known",
            ),
            models.CheckConstraint(
                condition=~Q(kind="minutes") | Q(every_minutes__gte=1),
                name="schedule_minutes_has_interval",
                violation_error_message=_("Say every how many minutes."),
            ),
            models.CheckConstraint(
                condition=~Q(kind="hourly") | Q(minute__lte=59),
                name="schedule_hourly_has_minute",
                violation_error_message=_("Say at which minute of the hour."),
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["daily", "weekly"]) | Q(time_of_day__isnull=False),
                name="schedule_daily_has_time",
                violation_error_message=_("Say at what time."),
            ),
            models.CheckConstraint(
                condition=~Q(kind="weekly") | Q(weekday__lte=6),
                name="schedule_weekly_has_weekday",
                violation_error_message=_("Say on which day of the week."),
            ),
            models.CheckConstraint(
                condition=~Q(kind="cron") | ~Q(cron=""),
                name="schedule_cron_has_expression",
                violation_error_message=_("Give the cron expression."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact} ({self.describe()})"

    def describe(self) -> str:
        if self.kind == self.Kind.EVERY_MINUTES:
            n = self.every_minutes
            return ngettext("every minute", "every %(n)s minutes", n or 0) % {"n": n}
        if self.kind == self.Kind.HOURLY:
            return _("hourly at minute %(m)s") % {"m": self.minute}
        at = self.time_of_day.strftime("%H:%M") if self.time_of_day else "?"
        if self.kind == self.Kind.DAILY:
            return _("daily at %(at)s") % {"at": at}
        if self.kind == self.Kind.WEEKLY:
            day = self.get_weekday_display()
            return _("weekly on %(day)s at %(at)s") % {"day": day, "at": at}
        return _("cron %(expression)s") % {"expression": self.cron}

    def clean(self) -> None:
        """Field-level errors: the fields the kind needs and the cron expression."""
        errors: dict[str, str] = {}
        needed = {
            self.Kind.EVERY_MINUTES: ("every_minutes", _("Say every how many minutes.")),
            self.Kind.HOURLY: ("minute", _("Say at which minute of the hour.")),
            self.Kind.DAILY: ("time_of_day", _("Say at what time.")),
            self.Kind.WEEKLY: ("time_of_day", _("Say at what time.")),
            self.Kind.CRON: ("cron", _("Give the cron expression.")),
        }
        if self.kind in needed:
            field, message = needed[self.kind]
            if getattr(self, field) in (None, ""):
                errors[field] = message
        if self.kind == self.Kind.WEEKLY and self.weekday is None:
            errors["weekday"] = _("Say on which day of the week.")
        if (
            self.kind == self.Kind.CRON
            and self.cron
            and (problem := timing.cron_problem(self.cron))
        ):
            errors["cron"] = problem
        if errors:
            raise ValidationError(errors)

    def clean_fields(self, exclude: Any = None) -> None:
        """The field checks, and the parameter values against the artifact's declarations
        (as a run form takes them) unless `params` is excluded: a form without it checks the
        values beside their own inputs."""
        errors: dict[str, list] = {}
        try:
            super().clean_fields(exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        checked = "params" not in (exclude or ()) and self.artifact_id
        if checked and (problem := self.params_problem()):
            errors.setdefault("params", []).append(problem)
        if errors:
            raise ValidationError(errors)

    def params_problem(self) -> str:
        if not isinstance(self.params, dict):
            return _("Parameter values must be an object.")
        try:
            resolve_values(
                self.artifact.query_params, self.params, data_source=self.artifact.data_source
            )
        except ValidationError as exc:
            return " ".join(exc.messages)
        return ""

    def next_run_after(self, after: dt.datetime) -> dt.datetime:
        zone = timing.local_zone()
        if self.kind == self.Kind.EVERY_MINUTES:
            return timing.next_every_minutes(after, self.every_minutes)
        if self.kind == self.Kind.HOURLY:
            return timing.next_hourly(after, self.minute, zone)
        if self.kind == self.Kind.DAILY:
            return timing.next_daily(after, self.time_of_day, zone)
        if self.kind == self.Kind.WEEKLY:
            return timing.next_daily(after, self.time_of_day, zone, weekday=self.weekday)
        return timing.next_cron(after, self.cron, zone)

    def save_with_timetable(self) -> None:
        """Save a new or changed schedule with its next run computed from now."""
        self.next_run_at = self.next_run_after(timezone.now()) if self.enabled else None
        self.save()

    def claim(self, now: dt.datetime) -> dt.datetime | None:
        """Take this due run for one worker: move next_run_at on, on the condition that it is
        still the value read. Returns the due time claimed, or None when another worker (or a
        pause) got there first. Runs missed while no worker ran are not caught up: one run,
        then the next after now."""
        due = self.next_run_at
        following = self.next_run_after(max(now, due))
        claimed = Schedule.objects.filter(pk=self.pk, enabled=True, next_run_at=due).update(
            next_run_at=following
        )
        if not claimed:
            return None
        self.next_run_at = following
        return due

    def pause(self, reason: str) -> bool:
        updated = Schedule.objects.filter(pk=self.pk, enabled=True).update(
            enabled=False, paused_reason=reason[:300], next_run_at=None
        )
        self.refresh_from_db()
        return bool(updated)

    def resume(self) -> None:
        self.enabled, self.paused_reason, self.consecutive_failures = True, "", 0
        self.next_run_at = self.next_run_after(timezone.now())
        self.save(
            update_fields=[
                "enabled",
                "paused_reason",
                "consecutive_failures",
                "next_run_at",
                "updated_at",
            ]
        )


class Refresh(models.Model):
    """One due run of a schedule. (schedule, due_at) is unique, so a refresh job that runs
    again (its worker died) finds the run it recorded instead of recording another."""

    class Outcome(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("Refreshed")
        FAILED = "failed", _("Failed")

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="refreshes")
    due_at = models.DateTimeField(_("due"))
    # The artifact's run history keeps the run; the refresh only points at it.
    run = models.ForeignKey(
        "llm_artifact.ArtifactRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.RUNNING
    )
    error = models.TextField(_("error"), blank=True)
    # A digest of all the result's rows, for "changed since the last run".
    rows_hash = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-due_at"]
        verbose_name = _("refresh")
        verbose_name_plural = _("refreshes")
        constraints = [
            models.UniqueConstraint(fields=["schedule", "due_at"], name="refresh_once_per_due"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.due_at:%Y-%m-%d %H:%M}: {self.outcome}"

    def previous_hash(self) -> str:
        earlier = (
            Refresh.objects.filter(schedule_id=self.schedule_id, due_at__lt=self.due_at)
            .exclude(rows_hash="")
            .order_by("-due_at")
            .values_list("rows_hash", flat=True)
            .first()
        )
        return earlier or ""


def rows_digest(rows: Any) -> str:
    text = json.dumps([list(row) for row in rows], default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AlertQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> AlertQuerySet:
        return self.filter(schedule__in=Schedule.objects.visible_to(user))

    def editable_by(self, user: Any) -> AlertQuerySet:
        return self.filter(schedule__in=Schedule.objects.editable_by(user))


class Alert(models.Model):
    class Condition(models.TextChoices):
        ALWAYS = "always", _("Always (deliver every refresh)")
        HAS_ROWS = "has_rows", _("The result has rows")
        THRESHOLD = "threshold", _("A column's value crosses a threshold")
        CHANGED = "changed", _("The result changed since the last run")

    class Operator(models.TextChoices):
        GT = ">", ">"
        GTE = ">=", ">="
        LT = "<", "<"
        LTE = "<=", "<="

    # Why a condition other than "always" is refused on a dashboard or report.
    ROWS_ONLY = _(
        "Only “Always” applies to a dashboard or a report: the other conditions look at the "
        "rows of an SQL query."
    )

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="alerts")
    name = models.CharField(_("name"), max_length=200)
    # Who made it (an owner or editor of the artifact); sees its webhook secret.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedule_alerts"
    )
    condition = models.CharField(_("when"), max_length=16, choices=Condition.choices)
    column = models.CharField(_("column"), max_length=200, blank=True)
    operator = models.CharField(_("operator"), max_length=2, choices=Operator.choices, blank=True)
    threshold = models.FloatField(_("threshold"), null=True, blank=True)
    # When set, only rows whose `filter_column` equals this value are compared (the
    # "cancelled" row of orders by status).
    filter_column = models.CharField(_("only rows where column"), max_length=200, blank=True)
    filter_value = models.CharField(_("equals"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    last_triggered_at = models.DateTimeField(_("last triggered"), null=True, blank=True)
    last_outcome = models.CharField(_("last outcome"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["schedule", "pk"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.CheckConstraint(
                condition=Q(condition__in=["always", "has_rows", "threshold", "changed"]),
                name="alert_condition_known",
            ),
            models.CheckConstraint(
                condition=~Q(condition="threshold")
                | (
                    ~Q(column="")
                    & Q(operator__in=[">", ">=", "<", "<="])
                    & Q(threshold__isnull=False)
                ),
                name="alert_threshold_complete",
                violation_error_message=_("A threshold needs a column, an operator and a value."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.condition == self.Condition.THRESHOLD:
            if not self.column:
                errors["column"] = _("Name the column to compare.")
            if not self.operator:
                errors["operator"] = _("Choose how to compare.")
            if self.threshold is None:
                errors["threshold"] = _("Give the threshold.")
        if (
            self.condition
            and self.condition != self.Condition.ALWAYS
            and self.schedule_id
            and not types.of(self.schedule.artifact).uses_sql
        ):
            errors["condition"] = self.ROWS_ONLY
        if bool(self.filter_column) != bool(self.filter_value):
            errors["filter_value" if self.filter_column else "filter_column"] = _(
                "Give both the column and the value to select rows by, or neither."
            )
        if errors:
            raise ValidationError(errors)

    def describe(self) -> str:
        if self.condition == self.Condition.THRESHOLD:
            where = (
                _(" where %(c)s = %(v)s") % {"c": self.filter_column, "v": self.filter_value}
                if self.filter_column
                else ""
            )
            return f"{self.column} {self.operator} {self.threshold:g}{where}"
        return str(self.get_condition_display())

    def webhook_scope(self) -> str:
        return f"alert:{self.pk}"


class SubscriptionQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> SubscriptionQuerySet:
        """A user's own subscriptions, and every subscription of the alerts they may edit."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(user=user) | Q(alert__in=Alert.objects.editable_by(user)),
            alert__in=Alert.objects.visible_to(user),
        )


class Subscription(models.Model):
    class Channel(models.TextChoices):
        IN_APP = "in_app", _("In-app notification")
        EMAIL = "email", _("Email")
        WEBHOOK = "webhook", _("Webhook")

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="subscriptions")
    # Who is told (in-app, email), or who set up the webhook.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["alert", "pk"]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=["in_app", "email", "webhook"]),
                name="subscription_channel_known",
            ),
            models.CheckConstraint(
                condition=Q(channel="webhook", webhook_url__gt="")
                | (~Q(channel="webhook") & Q(webhook_url="")),
                name="subscription_webhook_has_url",
                violation_error_message=_("A webhook needs its URL (and only a webhook has one)."),
            ),
            models.UniqueConstraint(
                fields=["alert", "user", "channel"],
                condition=~Q(channel="webhook"),
                name="subscription_once_per_channel",
                violation_error_message=_("You are already subscribed on this channel."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_channel_display()}"

    def clean(self) -> None:
        if self.channel == self.Channel.WEBHOOK:
            if not self.webhook_url:
                raise ValidationError({"webhook_url": _("Give the webhook's URL.")})
            try:
                validate_webhook_url(self.webhook_url)
            except ValidationError as exc:
                raise ValidationError({"webhook_url": exc.messages}) from None
        elif self.webhook_url:
            raise ValidationError({"webhook_url": _("Only a webhook has a URL.")})
