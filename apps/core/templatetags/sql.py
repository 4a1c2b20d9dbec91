from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from apps.core.highlight import highlight_sql as _highlight_sql

register = template.Library()


@register.filter
def highlight_sql(sql: str) -> SafeString:
    """{{ artifact.sql_query|highlight_sql }}: Pygments-highlighted, escaped SQL."""
    return _highlight_sql(sql)
