"""SQL syntax highlighting with Pygments, shared by the admin and the pages."""

from __future__ import annotations

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import SqlLexer

# Inline styles keep the markup self-contained, so the admin, the pages and htmx fragments
# need no extra stylesheet.
_FORMATTER = HtmlFormatter(noclasses=True, style="friendly", cssclass="sql-highlight", nowrap=False)
_LEXER = SqlLexer()


def highlight_sql(sql: str) -> SafeString:
    # Pygments escapes every token it emits, so the result is safe to mark as such even
    # when the SQL came from an LLM.
    return mark_safe(highlight(sql or "", _LEXER, _FORMATTER))
