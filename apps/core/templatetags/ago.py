"""`{% load ago %}{{ value|ago }}`: "3 hours ago", the largest unit only, for tight layouts."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def ago(value: dt.datetime | None) -> str:
    if not value:
        return ""
    now = timezone.now()
    if value > now or (now - value).total_seconds() < 60:
        return _("just now")
    # timesince speaks the active language ("3 часа"); the sentence around it must too.
    return _("%(delta)s ago") % {"delta": timesince(value, now, depth=1)}
