"""SQL for people to read: laid out with sqlglot, highlighted with Pygments; shared by the
admin and the pages."""

from __future__ import annotations

from functools import lru_cache

import sqlglot
import sqlglot.errors
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


# Stored SQL longer than this on one of its lines is laid out for reading; SQL a person
# already laid out is shown as written.
LONG_LINE = 100


@lru_cache(maxsize=512)
def pretty_sql(sql: str, dialect: str | None = None) -> str:
    """SQL laid out for reading (sqlglot, in the source's dialect), for display only.

    The stored text stays what runs and what is edited. One-line SQL (as agents write it)
    is pretty-printed; SQL that does not parse, or holds several statements, comes back as
    it is.
    """
    text = sql or ""
    if all(len(line) <= LONG_LINE for line in text.splitlines()):
        return text
    try:
        statements = sqlglot.parse(text, read=dialect or None)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError, RecursionError):
        return text
    if len(statements) != 1 or statements[0] is None:
        return text
    try:
        return statements[0].sql(dialect=dialect or None, pretty=True, comments=True)
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return text
