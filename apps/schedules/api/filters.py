"""Filters of the schedules' lists. Foreign keys are filtered by id (a number), never by a
choice of every row, which would list others' artifacts in the browsable API's form."""

from __future__ import annotations

import django_filters

from apps.schedules.models import Alert, Schedule, Subscription


class ScheduleFilter(django_filters.FilterSet):
    artifact = django_filters.NumberFilter(field_name="artifact_id")

    class Meta:
        model = Schedule
        fields = ["artifact", "enabled", "kind"]


class AlertFilter(django_filters.FilterSet):
    schedule = django_filters.NumberFilter(field_name="schedule_id")

    class Meta:
        model = Alert
        fields = ["schedule", "condition", "enabled"]


class SubscriptionFilter(django_filters.FilterSet):
    alert = django_filters.NumberFilter(field_name="alert_id")

    class Meta:
        model = Subscription
        fields = ["alert", "channel"]
