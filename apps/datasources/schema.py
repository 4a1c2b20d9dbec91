"""Schema introspection: the tables and columns a data source offers, for the schema
browser, the API and the agent's prompt.

Only fixed statements of ours run here, never user SQL. SQLite is read through a
read-only, query-only connection without the executor's authorizer, because column
details come from `pragma_table_info`, which the authorizer refuses to user queries.
PostgreSQL is read from information_schema inside the same READ ONLY transaction the
executor uses, so a role sees exactly the tables it may query. Results are cached for
a minute per source: the schema browser and every agent turn ask again and again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

import psycopg

from apps.datasources.executor import (
    Outcome,
    QueryFailed,
    connect_postgres,
    postgres_setup_failure,
    sqlite_setup_failure,
)
from apps.datasources.sources import DataSource, Engine, UnknownDataSource, get_data_source

CACHE_SECONDS = 60.0


@dataclass
class ColumnInfo:
    name: str
    type: str  # as declared: "INTEGER", "TEXT", "numeric", "timestamp with time zone"
    nullable: bool


@dataclass
class TableInfo:
    name: str
    columns: list[ColumnInfo]


_cache: dict[tuple[str, str], tuple[float, list[TableInfo]]] = {}
_cache_lock = threading.Lock()


def clear_schema_cache() -> None:
    with _cache_lock:
        _cache.clear()


def list_tables(source: str) -> list[TableInfo]:
    """Every table and view of `source` with its columns, sorted by name.

    Raises QueryFailed (outcome "error") when the source is unknown or unreachable.
    """
    data_source = _data_source(source)
    key = (data_source.name, data_source.location)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    if data_source.engine == Engine.SQLITE:
        tables = _sqlite_tables(data_source)
    else:
        tables = _postgres_tables(data_source)
    with _cache_lock:
        _cache[key] = (now + CACHE_SECONDS, tables)
    return tables


def describe_table(source: str, table: str) -> TableInfo:
    """One table of `source`; raises LookupError when there is no such table."""
    tables = list_tables(source)
    for info in tables:
        if info.name == table:
            return info
    # Both engines fold unquoted names, so "Orders" finds "orders".
    for info in tables:
        if info.name.casefold() == table.casefold():
            return info
    raise LookupError(f"The data source {source!r} has no table {table!r}.")


def _data_source(source: str) -> DataSource:
    try:
        return get_data_source(source)
    except UnknownDataSource as exc:
        raise QueryFailed(Outcome.ERROR, str(exc)) from None


SQLITE_SCHEMA_SQL = """
SELECT m.name, p.name, p.type, p."notnull", p.pk
FROM sqlite_master AS m
JOIN pragma_table_info(m.name) AS p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
ORDER BY m.name COLLATE NOCASE, p.cid
"""


def _sqlite_tables(data_source: DataSource) -> list[TableInfo]:
    try:
        connection = sqlite3.connect(
            f"file:{quote(data_source.location)}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=5,
        )
    except sqlite3.Error as exc:
        raise sqlite_setup_failure(exc, data_source) from None
    try:
        connection.execute("PRAGMA query_only = ON")
        rows = connection.execute(SQLITE_SCHEMA_SQL).fetchall()
    except sqlite3.Error as exc:
        # Our own fixed statement failed: the file is at fault (not a database, damaged).
        raise sqlite_setup_failure(exc, data_source) from None
    finally:
        connection.close()
    tables: dict[str, TableInfo] = {}
    for table, column, declared, not_null, primary_key in rows:
        # An INTEGER PRIMARY KEY is the rowid and never NULL, whatever "notnull" says.
        is_rowid = bool(primary_key) and (declared or "").upper() == "INTEGER"
        tables.setdefault(table, TableInfo(table, [])).columns.append(
            ColumnInfo(column, declared or "", nullable=not (not_null or is_rowid))
        )
    return list(tables.values())


POSTGRES_SCHEMA_SQL = """
SELECT c.table_schema, c.table_name, c.column_name,
       CASE WHEN c.data_type IN ('ARRAY', 'USER-DEFINED') THEN c.udt_name ELSE c.data_type END,
       c.is_nullable = 'YES',
       c.table_schema = current_schema()
FROM information_schema.columns AS c
WHERE c.table_schema = ANY (current_schemas(false))
ORDER BY c.table_schema <> current_schema(), c.table_schema, c.table_name, c.ordinal_position
"""


def _postgres_tables(data_source: DataSource) -> list[TableInfo]:
    try:
        with connect_postgres(data_source, timeout=data_source.timeout_seconds) as connection:
            rows = connection.execute(POSTGRES_SCHEMA_SQL).fetchall()
    except psycopg.Error as exc:
        # Connecting failed as a QueryFailed already; our own fixed statement failing is
        # never the user's doing either.
        raise postgres_setup_failure(exc, data_source) from None
    tables: dict[str, TableInfo] = {}
    for schema, table, column, data_type, nullable, in_current_schema in rows:
        # Tables of the first schema on the search path are named as queries name them.
        name = table if in_current_schema else f"{schema}.{table}"
        tables.setdefault(name, TableInfo(name, [])).columns.append(
            ColumnInfo(column, data_type, nullable=bool(nullable))
        )
    return sorted(tables.values(), key=lambda info: info.name.casefold())
