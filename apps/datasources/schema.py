"""Schema introspection: the tables and columns a data source offers, what joins to what
(foreign keys), roughly how many rows each table holds and a few sample rows, for the
schema browser, the API and the agent's tools.

Only fixed statements of ours run here, never user SQL. SQLite is read through a
read-only, query-only connection without the executor's authorizer, because column
details come from `pragma_table_info` and `pragma_foreign_key_list`, which the
authorizer refuses to user queries. PostgreSQL is read from information_schema and
pg_catalog inside the same READ ONLY transaction the executor uses, so a role sees
exactly the tables it may query. Results are cached for a minute per source: the schema
browser and every agent turn ask again and again.

Row counts are estimates where the database keeps them (`sqlite_stat1` after ANALYZE,
`pg_class.reltuples`); a table without statistics is counted, but never past
COUNT_CAP rows nor past COUNT_BUDGET_SECONDS for the whole schema, so a big table is
never scanned end to end: past either bound its count is unknown (None). Sample rows
go through the executor like any query, with its time limit.

What users, the API and the agent see is what the source exposes (access.exposure_of):
list_tables leaves out the tables an operator did not expose and the hidden columns, and
samples read only the columns shown. list_all_tables is everything, for operators.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from urllib.parse import quote

import psycopg

from apps.datasources import executor
from apps.datasources.access import Exposure, exposure_of
from apps.datasources.executor import (
    Outcome,
    QueryFailed,
    connect_postgres,
    postgres_setup_failure,
    sqlite_setup_failure,
)
from apps.datasources.sources import DataSource, Engine, UnknownDataSource, get_data_source

CACHE_SECONDS = 60.0
# A table without statistics is counted up to this many rows; past it the count is unknown.
COUNT_CAP = 1_000_000
# All the counts of one schema read together stop after this long (and never after the
# source's own time limit): the rest stay unknown.
COUNT_BUDGET_SECONDS = 2.0
SAMPLE_ROWS = 5
# Sample rows are read for at most this many tables at once (one query each): the schema
# page and the API show the rest once a filter leaves fewer tables.
SAMPLE_TABLES_MAX = 30


@dataclass
class ColumnInfo:
    name: str
    type: str  # as declared: "INTEGER", "TEXT", "numeric", "timestamp with time zone"
    nullable: bool


@dataclass
class ForeignKeyInfo:
    """`columns` of this table hold values of `referenced_columns` of `referenced_table`."""

    columns: list[str]
    referenced_table: str  # named as list_tables names it
    referenced_columns: list[str]


@dataclass
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    foreign_keys: list[ForeignKeyInfo] = field(default_factory=list)
    # Roughly how many rows: the database's estimate, or a bounded count; None if unknown.
    approx_rows: int | None = None
    is_view: bool = False
    # For SQL: the schema when it is not the first on the search path (PostgreSQL).
    schema: str = ""
    bare_name: str = ""

    def foreign_key_for(self, column: str) -> ForeignKeyInfo | None:
        """The single-column foreign key of `column`, if it has one."""
        for key in self.foreign_keys:
            if key.columns == [column]:
                return key
        return None

    @property
    def sql_reference(self) -> str:
        """The table as a quoted SQL name: "orders", or "sales"."orders"."""
        parts = [self.schema, self.bare_name or self.name] if self.schema else [self.name]
        return ".".join(_quoted(part) for part in parts)


@dataclass
class SampleRows:
    """The first rows of a table as the executor returns them, or why there are none."""

    columns: list[str]
    rows: list[tuple]
    error: str = ""


_cache: dict[tuple[str, str], tuple[float, list[TableInfo]]] = {}
_sample_cache: dict[tuple[str, str, str], tuple[float, SampleRows]] = {}
_cache_lock = threading.Lock()


def clear_schema_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _sample_cache.clear()


def list_tables(source: str, *, exposure: Exposure | None = None) -> list[TableInfo]:
    """The tables and views of `source` that it exposes, with their columns but the hidden
    ones, sorted by name: what users, the API and the agent see (`exposure`: the source's
    own unless given).

    Raises QueryFailed (outcome "error") when the source is unknown or unreachable.
    """
    tables = list_all_tables(source)
    return exposed(tables, exposure_of(source) if exposure is None else exposure)


def exposed(tables: list[TableInfo], exposure: Exposure) -> list[TableInfo]:
    """`tables` as `exposure` shows them: only exposed tables, without hidden columns, and
    without the foreign keys that would name what is hidden."""
    if not exposure.restricted:
        return tables
    shown = {
        table.name: replace(
            table,
            columns=[c for c in table.columns if exposure.allows_column(table.name, c.name)],
        )
        for table in tables
        if exposure.allows_table(table.name)
    }
    for table in shown.values():
        table.foreign_keys = [
            key
            for key in table.foreign_keys
            if key.referenced_table in shown
            and all(exposure.allows_column(table.name, c) for c in key.columns)
            and all(exposure.allows_column(key.referenced_table, c) for c in key.referenced_columns)
        ]
    return list(shown.values())


def list_all_tables(source: str) -> list[TableInfo]:
    """Every table and view of `source` with all its columns, sorted by name, exposed or
    not: for operators (the admin's choice of tables to expose) and for list_tables.

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


def describe_table(source: str, table: str, *, exposure: Exposure | None = None) -> TableInfo:
    """One exposed table of `source`, as list_tables shows it; raises LookupError when there
    is no such table (or it is not exposed: the same answer)."""
    tables = list_tables(source, exposure=exposure)
    for info in tables:
        if info.name == table:
            return info
    # Both engines fold unquoted names, so "Orders" finds "orders".
    for info in tables:
        if info.name.casefold() == table.casefold():
            return info
    raise LookupError(f"The data source {source!r} has no table {table!r}.")


def sample_rows(
    source: str,
    table: TableInfo,
    limit: int = SAMPLE_ROWS,
    *,
    exposure: Exposure | None = None,
) -> SampleRows:
    """The first `limit` rows of `table`'s columns (as list_tables gives it: hidden columns
    left out), read through the executor (read-only, with the source's time limit and
    exposure), cached like the schema. A failure is told, not raised."""
    data_source = _data_source(source)
    if not table.columns:
        return SampleRows([], [], error="None of its columns is available.")
    columns = ", ".join(_quoted(column.name) for column in table.columns)
    sql = f"SELECT {columns} FROM {table.sql_reference} LIMIT {int(limit)}"
    key = (data_source.name, data_source.location, sql)
    now = time.monotonic()
    with _cache_lock:
        cached = _sample_cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    try:
        result = executor.execute(data_source.name, sql, max_rows=limit, exposure=exposure)
    except QueryFailed as exc:
        sample = SampleRows([], [], error=exc.message)
    else:
        sample = SampleRows([column.name for column in result.columns], result.rows)
    with _cache_lock:
        _sample_cache[key] = (now + CACHE_SECONDS, sample)
    return sample


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _data_source(source: str) -> DataSource:
    try:
        return get_data_source(source)
    except UnknownDataSource as exc:
        raise QueryFailed(Outcome.ERROR, str(exc)) from None


SQLITE_SCHEMA_SQL = """
SELECT m.name, m.type, p.name, p.type, p."notnull", p.pk
FROM sqlite_master AS m
JOIN pragma_table_info(m.name) AS p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
ORDER BY m.name COLLATE NOCASE, p.cid
"""
SQLITE_FOREIGN_KEYS_SQL = """
SELECT m.name, f.id, f."table", f."from", f."to"
FROM sqlite_master AS m
JOIN pragma_foreign_key_list(m.name) AS f
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
ORDER BY m.name, f.id, f.seq
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
        tables, primary_keys = _sqlite_table_infos(rows)
        _sqlite_foreign_keys(connection, tables, primary_keys)
        _sqlite_row_counts(connection, tables, data_source.timeout_seconds)
    except sqlite3.Error as exc:
        # Our own fixed statement failed: the file is at fault (not a database, damaged).
        raise sqlite_setup_failure(exc, data_source) from None
    finally:
        connection.close()
    return list(tables.values())


def _sqlite_table_infos(rows: list[tuple]) -> tuple[dict[str, TableInfo], dict[str, list[str]]]:
    tables: dict[str, TableInfo] = {}
    primary_keys: dict[str, list[tuple[int, str]]] = {}
    for table, kind, column, declared, not_null, primary_key in rows:
        # An INTEGER PRIMARY KEY is the rowid and never NULL, whatever "notnull" says.
        is_rowid = bool(primary_key) and (declared or "").upper() == "INTEGER"
        info = tables.setdefault(table, TableInfo(table, [], is_view=kind == "view"))
        info.columns.append(ColumnInfo(column, declared or "", nullable=not (not_null or is_rowid)))
        if primary_key:
            primary_keys.setdefault(table, []).append((primary_key, column))
    return tables, {name: [c for _, c in sorted(keys)] for name, keys in primary_keys.items()}


def _sqlite_foreign_keys(
    connection: sqlite3.Connection, tables: dict[str, TableInfo], primary_keys: dict
) -> None:
    # SQLite keeps the referenced table's name as the DDL spelled it: match it in any case.
    by_folded = {name.casefold(): name for name in tables}
    keys: dict[tuple[str, int], ForeignKeyInfo] = {}
    for table, key_id, referenced, column, referenced_column in connection.execute(
        SQLITE_FOREIGN_KEYS_SQL
    ):
        target = by_folded.get(str(referenced).casefold(), referenced)
        key = keys.get((table, key_id))
        if key is None:
            key = keys[(table, key_id)] = ForeignKeyInfo([], target, [])
            tables[table].foreign_keys.append(key)
        key.columns.append(column)
        if referenced_column is not None:
            key.referenced_columns.append(referenced_column)
    for key in keys.values():
        if not key.referenced_columns:  # "REFERENCES parent": the parent's primary key
            key.referenced_columns = list(primary_keys.get(key.referenced_table, ["rowid"]))
    for info in tables.values():
        # The pragma lists keys last-declared first: show them in column order.
        positions = {column.name: index for index, column in enumerate(info.columns)}
        info.foreign_keys.sort(key=lambda k: positions.get(k.columns[0], len(positions)))


def _sqlite_row_counts(
    connection: sqlite3.Connection, tables: dict[str, TableInfo], timeout: float
) -> None:
    """ANALYZE's estimates where there are some, else a count bounded in rows and time."""
    estimates: dict[str, int] = {}
    has_stats = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).fetchone()
    if has_stats:
        for table, stat in connection.execute("SELECT tbl, stat FROM sqlite_stat1"):
            first = str(stat or "").split(" ", 1)[0]
            if first.isdigit():
                estimates[table] = max(estimates.get(table, 0), int(first))
    deadline = time.monotonic() + min(COUNT_BUDGET_SECONDS, timeout)
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    for info in tables.values():
        if info.name in estimates:
            info.approx_rows = estimates[info.name]
        elif not info.is_view and time.monotonic() < deadline:
            info.approx_rows = _sqlite_bounded_count(connection, info)
    connection.set_progress_handler(None, 0)


def _sqlite_bounded_count(connection: sqlite3.Connection, info: TableInfo) -> int | None:
    try:
        (count,) = connection.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {info.sql_reference} LIMIT {COUNT_CAP + 1})"
        ).fetchone()
    except sqlite3.OperationalError:  # interrupted by the deadline
        return None
    return count if count <= COUNT_CAP else None


POSTGRES_SCHEMA_SQL = """
SELECT c.table_schema, c.table_name, c.column_name,
       CASE WHEN c.data_type IN ('ARRAY', 'USER-DEFINED') THEN c.udt_name ELSE c.data_type END,
       c.is_nullable = 'YES',
       c.table_schema = current_schema()
FROM information_schema.columns AS c
WHERE c.table_schema = ANY (current_schemas(false))
ORDER BY c.table_schema <> current_schema(), c.table_schema, c.table_name, c.ordinal_position
"""
POSTGRES_RELATIONS_SQL = """
SELECT n.nspname, c.relname, c.relkind IN ('v', 'm'), c.reltuples::bigint
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (current_schemas(false)) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
POSTGRES_FOREIGN_KEYS_SQL = """
SELECT sn.nspname, s.relname, tn.nspname, t.relname,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, i)
             JOIN pg_attribute AS a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
             ORDER BY u.i)::text[],
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, i)
             JOIN pg_attribute AS a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
             ORDER BY u.i)::text[]
FROM pg_constraint AS k
JOIN pg_class AS s ON s.oid = k.conrelid JOIN pg_namespace AS sn ON sn.oid = s.relnamespace
JOIN pg_class AS t ON t.oid = k.confrelid JOIN pg_namespace AS tn ON tn.oid = t.relnamespace
WHERE k.contype = 'f' AND sn.nspname = ANY (current_schemas(false))
ORDER BY sn.nspname, s.relname, k.conname
"""


def _postgres_tables(data_source: DataSource) -> list[TableInfo]:
    try:
        with connect_postgres(data_source, timeout=data_source.timeout_seconds) as connection:
            rows = connection.execute(POSTGRES_SCHEMA_SQL).fetchall()
            current = connection.execute("SELECT current_schema()").fetchone()[0]
            tables = _postgres_table_infos(rows)
            _postgres_foreign_keys(connection, tables, current)
            _postgres_row_counts(connection, tables, current, data_source.timeout_seconds)
    except psycopg.Error as exc:
        # Connecting failed as a QueryFailed already; our own fixed statement failing is
        # never the user's doing either.
        raise postgres_setup_failure(exc, data_source) from None
    return sorted(tables.values(), key=lambda info: info.name.casefold())


def _postgres_name(schema: str, table: str, current: str | None) -> str:
    # Tables of the first schema on the search path are named as queries name them.
    return table if schema == current else f"{schema}.{table}"


def _postgres_table_infos(rows: list[tuple]) -> dict[str, TableInfo]:
    tables: dict[str, TableInfo] = {}
    for schema, table, column, data_type, nullable, in_current_schema in rows:
        name = table if in_current_schema else f"{schema}.{table}"
        info = tables.setdefault(
            name,
            TableInfo(name, [], schema="" if in_current_schema else schema, bare_name=table),
        )
        info.columns.append(ColumnInfo(column, data_type, nullable=bool(nullable)))
    return tables


def _postgres_foreign_keys(
    connection: psycopg.Connection, tables: dict[str, TableInfo], current: str | None
) -> None:
    for schema, table, target_schema, target, columns, referenced in connection.execute(
        POSTGRES_FOREIGN_KEYS_SQL
    ):
        source = tables.get(_postgres_name(schema, table, current))
        target_name = _postgres_name(target_schema, target, current)
        # A key into a table the role may not read would name what it cannot see.
        if source is not None and target_name in tables:
            source.foreign_keys.append(ForeignKeyInfo(list(columns), target_name, list(referenced)))


def _postgres_row_counts(
    connection: psycopg.Connection,
    tables: dict[str, TableInfo],
    current: str | None,
    timeout: float,
) -> None:
    """pg_class.reltuples where ANALYZE has run; else a count bounded in rows and time."""
    uncounted: list[TableInfo] = []
    for schema, table, is_view, estimate in connection.execute(POSTGRES_RELATIONS_SQL):
        info = tables.get(_postgres_name(schema, table, current))
        if info is None:
            continue
        info.is_view = bool(is_view)
        # -1: never analysed (PostgreSQL 14+); 0 may be "never analysed" on older servers.
        if estimate is not None and estimate > 0:
            info.approx_rows = int(estimate)
        elif not info.is_view:
            uncounted.append(info)
    deadline = time.monotonic() + min(COUNT_BUDGET_SECONDS, timeout)
    for info in sorted(uncounted, key=lambda t: t.name):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        info.approx_rows = _postgres_bounded_count(connection, info, left)


def _postgres_bounded_count(
    connection: psycopg.Connection, info: TableInfo, seconds: float
) -> int | None:
    # A savepoint, so a count stopped by its timeout leaves the transaction usable.
    connection.execute("SAVEPOINT row_count")
    try:
        connection.execute(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        (count,) = connection.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {info.sql_reference} LIMIT {COUNT_CAP + 1}) AS t"
        ).fetchone()
    except psycopg.Error:  # its time ran out, or the table cannot be read after all
        connection.execute("ROLLBACK TO SAVEPOINT row_count")
        return None
    connection.execute("ROLLBACK TO SAVEPOINT row_count")  # undoes the SET LOCAL too
    return count if count <= COUNT_CAP else None
