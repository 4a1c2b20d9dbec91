"""`{% load ago %}{{ value|ago }}`: "3 hours ago", the largest unit only, for tight layouts."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value: dt.datetime | None) -> str:
    if not value:
        return ""
    now = timezone.now()
    if value > now or (now - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, now, depth=1)} ago"
