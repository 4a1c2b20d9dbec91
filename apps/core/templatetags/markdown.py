from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from apps.core.markdown import render_markdown

register = template.Library()


@register.filter(is_safe=False)
def markdown(text: str) -> SafeString:
    """{{ message.content|markdown }}: Markdown rendered and sanitised (see core/markdown.py)."""
    return render_markdown(str(text or ""))
