"""Allowed values read from a column of the data source, for parameters that declare
`"choices_from": {"table": ..., "column": ...}`.

The values are `SELECT DISTINCT column FROM table ... ORDER BY 1 LIMIT n` through the
read-only executor (the guard, the source's time limit), built with sqlglot so the names are
quoted identifiers, never pasted text. At most MAX_VALUES are listed, and the caller is told
when the column holds more; a value beyond them is checked with one bound query of its own.
The list is kept in Django's cache for CACHE_SECONDS per source, table and column (a failure
to read it for ERROR_CACHE_SECONDS), and read afresh when an artifact that declares it is
saved (refresh=True).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.core.cache import cache
from sqlglot import exp

from apps.datasources import executor, schema
from apps.datasources.executor import QueryFailed
from apps.datasources.schema import TableInfo
from apps.datasources.sources import UnknownDataSource, get_data_source

MAX_VALUES = 200
CACHE_SECONDS = 10 * 60
# Why a column could not be read is kept for less time: the source may be back soon.
ERROR_CACHE_SECONDS = 30
# The placeholder of the membership check: a name of ours in the `:name` form the guard and
# executor bind, written as is because sqlglot renders placeholders per dialect (%(x)s).
_VALUE_PLACEHOLDER = ":value"


@dataclass(frozen=True)
class AllowedValues:
    """The values a parameter allows: its fixed choices, or what a column offers."""

    values: list[str] = field(default_factory=list)
    # The column holds more than MAX_VALUES distinct values; `values` are the first ones.
    more: bool = False
    # Why they could not be read ("" when they were): the source is down, the column gone.
    error: str = ""


class ColumnMissing(LookupError):
    """The table or column does not exist in the data source; the message says which."""


def find_column(source: str, table: str, column: str) -> tuple[TableInfo, str]:
    """The table as the schema lists it and the column's own spelling.

    Raises ColumnMissing naming what is missing (with the columns there are), or QueryFailed
    when the source cannot be read."""
    try:
        info = schema.describe_table(source, table)
    except LookupError:
        raise ColumnMissing(f"the data source has no table {table!r}") from None
    names = [c.name for c in info.columns]
    for candidate in (column, column.casefold()):
        for name in names:
            if name == candidate or name.casefold() == candidate:
                return info, name
    listed = ", ".join(names[:30]) + (", …" if len(names) > 30 else "")
    raise ColumnMissing(f"table {info.name!r} has no column {column!r} (columns: {listed})")


def read_column_values(
    source: str, table: str, column: str, *, refresh: bool = False
) -> AllowedValues:
    """The first MAX_VALUES distinct non-null values of the column as text, sorted by the
    database; from the cache unless `refresh`. A failure is told in `error`, not raised."""
    key = _cache_key(source, table, column)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return AllowedValues(
                values=list(cached["values"]), more=cached["more"], error=cached["error"]
            )
    try:
        info, name = find_column(source, table, column)
        result = executor.execute(source, _distinct_sql(source, info, name), max_rows=MAX_VALUES)
    except (ColumnMissing, QueryFailed, UnknownDataSource) as exc:
        error = getattr(exc, "message", None) or str(exc)
        # Kept briefly too: a source that is down must not cost every page its time limit.
        cache.set(key, {"values": [], "more": False, "error": error}, ERROR_CACHE_SECONDS)
        return AllowedValues(error=error)
    values = [_as_text(row[0]) for row in result.rows]
    cache.set(key, {"values": values, "more": result.truncated, "error": ""}, CACHE_SECONDS)
    return AllowedValues(values=values, more=result.truncated)


def column_holds(source: str, table: str, column: str, value: str) -> bool:
    """Whether the column holds `value` (compared as text): for values beyond the listed
    ones. One bound query through the executor; raises QueryFailed or ColumnMissing."""
    info, name = find_column(source, table, column)
    query = (
        exp.select(exp.Literal.number(1))
        .from_(_table(info))
        .where(exp.EQ(this=_as_text_sql(name), expression=exp.var(_VALUE_PLACEHOLDER)))
        .limit(1)
    )
    sql = query.sql(dialect=get_data_source(source).dialect)
    return executor.execute(source, sql, {"value": value}, max_rows=1).row_count > 0


def _distinct_sql(source: str, info: TableInfo, name: str) -> str:
    query = (
        exp.select(exp.column(name, quoted=True))
        .distinct()
        .from_(_table(info))
        .where(exp.column(name, quoted=True).is_(exp.null()).not_())
        .order_by("1")
        # One past the bound tells that the column holds more.
        .limit(MAX_VALUES + 1)
    )
    return query.sql(dialect=get_data_source(source).dialect)


def _table(info: TableInfo) -> exp.Table:
    if info.schema:
        return exp.table_(info.bare_name or info.name, db=info.schema, quoted=True)
    return exp.table_(info.name, quoted=True)


def _as_text_sql(name: str) -> exp.Expression:
    return exp.cast(exp.column(name, quoted=True), exp.DataType.build("text"))


def _as_text(value: object) -> str:
    value = executor.json_friendly(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cache_key(source: str, table: str, column: str) -> str:
    try:
        location = get_data_source(source).location
    except UnknownDataSource:
        location = ""
    digest = hashlib.sha256("\0".join([source, location, table, column]).encode()).hexdigest()
    return f"llm_artifact:column_values:{digest}"
