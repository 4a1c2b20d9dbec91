"""Vega-Lite field names versus result column names.

Vega-Lite reads `a.b` and `a[0]` in a `field` as nested access; a column whose name holds a
dot or a bracket has to be written with those characters escaped (`a\\.b`). SQL results can
carry such names (`SELECT x AS "total.eur"`), so both directions live here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SPECIAL = ".[]"


def escape_field(column: str) -> str:
    """The `field` string that makes Vega-Lite read `column` literally."""
    out = []
    for char in column:
        if char in _SPECIAL or char == "\\":
            out.append("\\")
        out.append(char)
    return "".join(out)


def _unescaped(field: str, stop: str = "") -> str:
    """`field` read with its backslash escapes removed, up to its first unescaped `stop` char.

    The one reading of Vega-Lite's escapes: `literal_name` and `root_name` differ only in
    where they stop.
    """
    out = []
    chars = iter(field)
    for char in chars:
        if char == "\\":
            out.append(next(chars, ""))
        elif char in stop:
            break
        else:
            out.append(char)
    return "".join(out)


def literal_name(field: str) -> str:
    """The column name a `field` string names when read with escapes removed."""
    return _unescaped(field)


def root_name(field: str) -> str:
    """The first step of a nested access path: `a.b` -> `a`, `a\\.b` -> `a.b`."""
    return _unescaped(field, stop="[.")


def has_unescaped_access(field: str) -> bool:
    """True when Vega-Lite would read `field` as a nested access path."""
    return root_name(field) != literal_name(field)


def column_name(column: Any) -> str:
    """A column's name from a ResultColumn, a `{"name", "type"}` dict or a plain string."""
    if isinstance(column, Mapping):
        return str(column["name"])
    return str(getattr(column, "name", column))
