from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters


class NotificationFilter(filters.FilterSet):
    unread = filters.BooleanFilter(
        method="filter_unread", help_text="true: only unread ones; false: only read ones."
    )

    def filter_unread(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(read_at__isnull=value)
