"""The read-only executor: the one path from any SQL (artifact page, API, command line,
the agent's run_sql tool) to a data source.

Three layers stand between a query and a write, and each holds on its own:

1. the guard (guard.py) parses the SQL and refuses anything but a single read;
2. the connection refuses writes whatever it is sent. SQLite: the file is opened
   read-only (`mode=ro`), `PRAGMA query_only` is on, an authorizer allows only reads and
   harmless function calls (no ATTACH, PRAGMA or writes), and ATTACH is limited to zero
   databases. PostgreSQL: every query runs in a `READ ONLY` transaction with
   `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` set
   locally, through the extended protocol (one statement, no `COMMIT; ...` tricks), and
   the transaction is always rolled back. READ ONLY does not stop a superuser or a member
   of pg_read_server_files / pg_write_server_files / pg_execute_server_program (server
   files, large objects, COPY ... TO PROGRAM), so such a role, or one with BYPASSRLS, is
   refused when it connects unless its source says `?allow_privileged=true`;
3. the work is bounded: a deadline per query (a progress handler on SQLite, the statement
   timeout on PostgreSQL) and a row cap, fetching cap + 1 rows to report truncation.
   Results are never loaded beyond the cap: SQLite steps through rows with fetchmany;
   PostgreSQL's execute() wraps the query in `LIMIT cap + 1` (a bound parameter), and
   stream() reads a server-side cursor batch by batch.

Rows are the driver's tuples and their values JSON-friendly, chosen for speed as much as
for the wire:
- integers and floats stay numbers; PostgreSQL `numeric` becomes a float, parsed by
  psycopg's C loader (beyond ~15 significant digits precision is lost, an accepted trade
  for analytics), except numeric(p, 0) columns, which become ints;
- dates, times and timestamps are ISO text: SQLite stores them as text already, and
  PostgreSQL's own ISO output is passed through without a Python conversion per value
  (`2024-05-01`, `2024-05-01 12:30:00+00`);
- json, uuid, intervals, network addresses and the like are their PostgreSQL text;
  binary values are hex text (`\\x0a0b`), as PostgreSQL prints bytea.

Connections are opened per query: nothing a query does can leak into the next one, and
opening costs well under a millisecond on SQLite and a few milliseconds on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import math
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from psycopg import errors as pg_errors
from psycopg import postgres
from psycopg.adapt import AdaptersMap
from psycopg.types.numeric import FloatLoader
from psycopg.types.string import TextLoader

from apps.core.json import INT64_MAX
from apps.datasources.access import EVERYTHING, Exposure, exposure_of
from apps.datasources.errors import (
    Outcome,
    QueryFailed,
    looks_like_setup,
    mask_secrets,
    setup_failure,
)
from apps.datasources.functions import sqlite_function_refused
from apps.datasources.guard import CheckedSQL, SQLRejected, parse_checked
from apps.datasources.sources import DataSource, Engine, UnknownDataSource, get_data_source


class ColumnType:
    INTEGER = "integer"
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ResultColumn:
    name: str
    type: str


@dataclass
class QueryResult:
    columns: list[ResultColumn]
    # Row tuples straight from the driver: copying 100,000 rows into lists would cost a
    # quarter of the fetch itself.
    rows: list[tuple]
    row_count: int
    truncated: bool
    duration_ms: float


class QueryInterrupt:
    """Stops a running query from another thread: a background job's cancel or time limit
    (apps.jobs' `ctx.on_stop(interrupt.request)`).

    Pass one to execute() or stream(); request() interrupts the query on its connection
    (SQLite's interrupt, PostgreSQL's cancel request), and the query raises QueryFailed
    saying it was stopped. A request before the query starts stops it before it connects.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self.requested = False

    def request(self) -> None:
        with self._lock:
            self.requested = True
            stop = self._stop
        if stop is not None:
            stop()

    def attach(self, stop: Callable[[], None]) -> None:
        """Called by the executor with what interrupts the query now running."""
        with self._lock:
            self._stop = stop
            requested = self.requested
        if requested:
            raise stopped_failure()

    def detach(self) -> None:
        with self._lock:
            self._stop = None


STOPPED_MESSAGE = _("The query was stopped before it finished: its run was cancelled.")


def stopped_failure() -> QueryFailed:
    return QueryFailed(Outcome.ERROR, str(STOPPED_MESSAGE))


def _interrupted(interrupt: QueryInterrupt | None) -> bool:
    return interrupt is not None and interrupt.requested


# --- public entry points -------------------------------------------------------------


def execute(
    source: str,
    sql: str,
    params: dict | None = None,
    *,
    max_rows: int | None = None,
    timeout: float | None = None,
    exposure: Exposure | None = None,
    interrupt: QueryInterrupt | None = None,
) -> QueryResult:
    """Run a read-only query and return at most `max_rows` rows (the source's cap by default).

    Raises QueryFailed: outcome "rejected" when the guard or the connection refuses the
    SQL (a table the source does not expose included), "timeout" when it runs past
    `timeout` seconds, "error" for anything else. `exposure` is what of the source may be
    read, when the caller has it at hand (the agent's turn); else it is looked up.
    `interrupt` lets another thread stop the query (QueryInterrupt).
    """
    data_source, checked, values = _prepare(source, sql, params, exposure)
    limit = max_rows or data_source.max_rows
    seconds = timeout or data_source.timeout_seconds
    started = time.perf_counter()
    if data_source.engine == Engine.SQLITE:
        columns, rows = _execute_sqlite(
            data_source, checked.statement, values, limit + 1, seconds, interrupt
        )
    else:
        columns, rows = _execute_postgres(
            data_source, checked, values, limit + 1, seconds, interrupt
        )
    truncated = len(rows) > limit
    if truncated:
        del rows[limit:]
    return QueryResult(
        columns=columns,
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )


class RowBatches:
    """The batches of a streamed result, fetched as they are iterated.

    Once exhausted, `row_count` is the number of rows produced and `truncated` says
    whether the row cap left rows behind.
    """

    def __init__(
        self,
        fetch: Callable[[int], list[tuple]],
        *,
        limit: int,
        batch_size: int,
        clean: Callable[[list[tuple]], list[tuple]],
    ) -> None:
        self._fetch = fetch
        self._limit = limit
        self._batch_size = batch_size
        self._clean = clean
        self._pending: list[tuple] | None = None
        self._done = False
        self.row_count = 0
        self.truncated = False

    def prefetch(self) -> list[tuple]:
        """Fetch the first batch now, so that a query failing at once fails before any
        byte of an export has been sent. Returns it (it is still produced by iteration)."""
        self._pending = self._fetch(min(self._batch_size, self._limit))
        return self._pending

    def __iter__(self) -> RowBatches:
        return self

    def __next__(self) -> list[tuple]:
        if self._done:
            raise StopIteration
        remaining = self._limit - self.row_count
        if remaining <= 0:
            self._done = True
            self.truncated = bool(self._fetch(1))
            raise StopIteration
        batch = self._pending
        self._pending = None
        if batch is None:
            batch = self._fetch(min(self._batch_size, remaining))
        if not batch:
            self._done = True
            raise StopIteration
        self.row_count += len(batch)
        return self._clean(batch)


@contextmanager
def stream(
    source: str,
    sql: str,
    params: dict | None = None,
    *,
    max_rows: int | None = None,
    batch_size: int = 2000,
    timeout: float | None = None,
    exposure: Exposure | None = None,
    interrupt: QueryInterrupt | None = None,
) -> Iterator[tuple[list[ResultColumn], RowBatches]]:
    """Stream a read-only query's rows in batches, for exports, in constant memory.

    Yields `(columns, batches)`; each batch is a list of row tuples with JSON-friendly
    values. At most `max_rows` rows (the source's export cap by default) are produced.
    The timeout applies to each batch, as PostgreSQL's statement timeout applies to each
    FETCH, so a long export of a fast query is not cut off. Errors before the first row
    raise QueryFailed here; errors later raise QueryFailed from the iteration. `exposure` and
    `interrupt` as in execute().
    """
    data_source, checked, values = _prepare(source, sql, params, exposure)
    limit = max_rows or data_source.export_max_rows
    seconds = timeout or data_source.timeout_seconds
    if data_source.engine == Engine.SQLITE:
        opened = _stream_sqlite(
            data_source, checked.statement, values, limit, batch_size, seconds, interrupt
        )
    else:
        opened = _stream_postgres(
            data_source, checked, values, limit, batch_size, seconds, interrupt
        )
    with opened as (columns, batches):
        yield columns, batches


# --- shared preparation --------------------------------------------------------------


def _prepare(
    source: str, sql: str, params: dict | None, exposure: Exposure | None = None
) -> tuple[DataSource, CheckedSQL, dict]:
    try:
        data_source = get_data_source(source)
    except UnknownDataSource as exc:
        raise QueryFailed(Outcome.ERROR, str(exc)) from None
    try:
        checked = parse_checked(
            sql,
            dialect=data_source.dialect,
            allow_functions=data_source.allow_functions,
            exposure=exposure_of(data_source.name) if exposure is None else exposure,
            columns_of=functools.partial(_column_names, data_source.name),
        )
    except SQLRejected as exc:
        raise QueryFailed(Outcome.REJECTED, exc.message) from None
    values = dict(params or {})
    missing = [name for name in checked.parameters if name not in values]
    if missing:
        names = ", ".join(f":{name}" for name in missing)
        raise QueryFailed(
            Outcome.ERROR, gettext("No value was given for %(names)s.") % {"names": names}
        )
    for name in checked.parameters:
        if not isinstance(values[name], BINDABLE_TYPES):
            raise QueryFailed(
                Outcome.ERROR,
                gettext(
                    "The value of :%(name)s is a %(type)s; "
                    "parameters must be text, numbers, booleans, dates or null."
                )
                % {"name": name, "type": type(values[name]).__name__},
            )
    return data_source, checked, {name: values[name] for name in checked.parameters}


def _column_names(source: str, table: str) -> list[str] | None:
    """The columns of `table`, for a refusal of `*` to name the ones to list instead (only
    asked then; the schema is cached)."""
    from apps.datasources import schema  # schema runs its samples through this module

    try:
        info = schema.describe_table(source, table, exposure=EVERYTHING)
    except (QueryFailed, LookupError):
        return None
    return [column.name for column in info.columns]


BINDABLE_TYPES = (str, int, float, bool, decimal.Decimal, dt.date, dt.datetime, type(None))


def _timeout_message(seconds: float) -> str:
    return gettext("The query ran longer than the %(seconds)s s limit and was stopped.") % {
        "seconds": number_format(f"{seconds:g}")
    }


# --- value conversion ----------------------------------------------------------------


def json_friendly(value: Any) -> Any:
    """Turn a driver value of a type JSON lacks into a number or text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, decimal.Decimal):
        return _decimal_number(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [json_friendly(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_friendly(item) for key, item in value.items()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _decimal_number(value: decimal.Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value() and abs(value) <= INT64_MAX:
        return int(value)
    # A float beyond 64 bits (as SQLite gives 1e20), and past a float's range the digits
    # as text: a 5,000-digit integer would not even print as JSON.
    number = float(value)
    return number if math.isfinite(number) else str(value)


def _convert_columns(rows: list[tuple], converters: dict[int, Any]) -> list[tuple]:
    if not converters:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for index, convert in converters.items():
            values[index] = convert(values[index])
        converted.append(tuple(values))
    return converted


# --- SQLite --------------------------------------------------------------------------

# What a plain SELECT needs; everything else (writes, ATTACH, PRAGMA, transactions,
# schema changes) is denied when the statement is prepared.
SQLITE_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
# The progress handler runs every this many virtual machine steps: often enough to stop
# within milliseconds of the deadline, rarely enough to cost nothing measurable.
SQLITE_PROGRESS_STEPS = 20_000
# Bounds one value (a string or blob built by the query) to keep memory in check.
SQLITE_MAX_VALUE_BYTES = 64 * 1024 * 1024


def read_only_authorizer(
    action: int, arg1: str | None, arg2: str | None, db_name: str | None, trigger: str | None
) -> int:
    """SQLite authorizer: allow reading and calling harmless functions, nothing else."""
    if action == sqlite3.SQLITE_FUNCTION:
        if arg2 and sqlite_function_refused(arg2):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_OK if action in SQLITE_ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


class _Deadline:
    """A progress handler that interrupts the running statement after `seconds`, or once
    `stopped` is set (a QueryInterrupt)."""

    __slots__ = ("at", "expired", "seconds", "stopped")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stopped = False
        self.reset()

    def reset(self) -> None:
        self.at = time.monotonic() + self.seconds
        self.expired = False

    def __call__(self) -> int:
        if self.stopped:
            return 1
        if time.monotonic() > self.at:
            self.expired = True
            return 1
        return 0


def connect_sqlite(location: str) -> sqlite3.Connection:
    """Open a SQLite data source with every connection-level protection in place.

    The file is opened read-only, `query_only` is on, nothing can be attached, and the
    authorizer refuses anything but reads. Any one of these stops a write by itself.
    """
    uri = f"file:{quote(location)}?mode=ro"
    # isolation_level=None: no implicit BEGIN, nothing for the module to commit.
    connection = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5
    )
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_VALUE_BYTES)
        # Set last: from here on PRAGMA is refused too.
        connection.set_authorizer(read_only_authorizer)
    except BaseException:
        connection.close()
        raise
    return connection


def _sqlite_failure(
    exc: sqlite3.Error, deadline: _Deadline, data_source: DataSource
) -> QueryFailed:
    code = getattr(exc, "sqlite_errorname", "")
    if deadline.stopped:
        return stopped_failure()
    if deadline.expired or code == "SQLITE_INTERRUPT":
        return QueryFailed(Outcome.TIMEOUT, _timeout_message(deadline.seconds))
    if code in {"SQLITE_AUTH", "SQLITE_READONLY"}:
        return QueryFailed(
            Outcome.REJECTED,
            gettext("The data source refused the statement as a write: %(error)s.")
            % {"error": exc},
        )
    if code.startswith(SQLITE_SETUP_ERRORS):
        return sqlite_setup_failure(exc, data_source)
    return QueryFailed(Outcome.ERROR, mask_secrets(str(exc)))


# Errors of the file, not of the query: missing or unreadable, not a database, damaged,
# locked by a writer for longer than the busy timeout, or the disk failing.
SQLITE_SETUP_ERRORS = (
    "SQLITE_CANTOPEN",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
    "SQLITE_IOERR",
    "SQLITE_PERM",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
)


def sqlite_setup_failure(exc: sqlite3.Error, data_source: DataSource) -> QueryFailed:
    """The file cannot be used: plain words for the user, the file and error for staff."""
    code = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
    return setup_failure(data_source.name, f"cannot open {data_source.location} ({code}): {exc}")


@contextmanager
def _sqlite_cursor(
    data_source: DataSource,
    sql: str,
    values: dict,
    seconds: float,
    interrupt: QueryInterrupt | None = None,
) -> Iterator[tuple[sqlite3.Cursor, _Deadline]]:
    deadline = _Deadline(seconds)
    try:
        connection = connect_sqlite(data_source.location)
    except sqlite3.Error as exc:
        raise sqlite_setup_failure(exc, data_source) from None
    try:
        connection.set_progress_handler(deadline, SQLITE_PROGRESS_STEPS)
        if interrupt is not None:

            def stop() -> None:
                # The progress handler stops a statement that is stepping; interrupt()
                # (safe from another thread) one waiting inside SQLite.
                deadline.stopped = True
                connection.interrupt()

            interrupt.attach(stop)
        try:
            cursor = connection.execute(sql, {k: _sqlite_value(v) for k, v in values.items()})
        except sqlite3.Error as exc:
            raise _sqlite_failure(exc, deadline, data_source) from None
        except (ValueError, OverflowError) as exc:
            raise QueryFailed(Outcome.ERROR, str(exc)) from None
        yield cursor, deadline
    finally:
        if interrupt is not None:
            interrupt.detach()
        connection.close()


def _sqlite_value(value: Any) -> Any:
    # SQLite stores dates as ISO text and has no decimal type; Python 3.12 drops the
    # sqlite3 module's implicit date adapters, so convert explicitly.
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
# Column types are read from this many rows, and text columns checked for ISO dates on
# this many values.
TYPE_SAMPLE_ROWS = 1000
DATE_SAMPLE = 50


def _sqlite_columns(description, rows: list[tuple]) -> list[ResultColumn]:
    """Column types from the values, as SQLite types values, not columns.

    The first rows decide: scanning every value of a large result would cost more than
    fetching it, and a column's type rarely changes past its first thousand values.
    """
    return _sqlite_columns_and_blobs(description, rows)[0]


def _sqlite_columns_and_blobs(description, rows: list[tuple]) -> tuple[list[ResultColumn], bool]:
    """The columns, and whether the first TYPE_SAMPLE_ROWS rows hold a blob anywhere.

    The value types collected for typing are the ones the blob check needs, so a result of
    the display cap is looked at once.
    """
    names = [item[0] for item in description]
    sample = rows[:TYPE_SAMPLE_ROWS]
    if not sample:
        return [ResultColumn(name, ColumnType.UNKNOWN) for name in names], False
    columns: list[ResultColumn] = []
    blobs = False
    for name, values in zip(names, zip(*sample, strict=True), strict=True):
        seen = set(map(type, values))
        seen.discard(type(None))
        blobs = blobs or bytes in seen
        columns.append(ResultColumn(name, _sqlite_type(seen, values)))
    return columns, blobs


def _sqlite_type(seen: set[type], values: tuple) -> str:
    if not seen:
        return ColumnType.UNKNOWN
    if seen == {int}:
        return ColumnType.INTEGER
    if seen <= {int, float}:
        return ColumnType.NUMBER
    if seen == {str}:
        sample = list(itertools.islice((v for v in values if v is not None), DATE_SAMPLE))
        if all(DATE_RE.fullmatch(v) for v in sample):
            return ColumnType.DATE
        if all(DATETIME_RE.fullmatch(v) or DATE_RE.fullmatch(v) for v in sample):
            return ColumnType.DATETIME
        return ColumnType.TEXT
    return ColumnType.UNKNOWN


def _execute_sqlite(
    data_source: DataSource,
    sql: str,
    values: dict,
    fetch: int,
    seconds: float,
    interrupt: QueryInterrupt | None = None,
) -> tuple[list[ResultColumn], list[tuple]]:
    # SQLite runs the original text: sqlite3 refuses a second statement, and the
    # authorizer judges what SQLite itself parsed, so there is nothing to re-render.
    with _sqlite_cursor(data_source, sql, values, seconds, interrupt) as (cursor, deadline):
        try:
            rows = cursor.fetchmany(fetch)
        except sqlite3.Error as exc:
            raise _sqlite_failure(exc, deadline, data_source) from None
        columns, sample_blobs = _sqlite_columns_and_blobs(cursor.description or [], rows)
    # The typing pass saw every value of the sample: only rows past it need their own check.
    if sample_blobs or (len(rows) > TYPE_SAMPLE_ROWS and _has_blob(rows[TYPE_SAMPLE_ROWS:])):
        rows = [tuple(map(json_friendly, row)) for row in rows]
    return columns, rows


def _has_blob(rows: list[tuple]) -> bool:
    return bytes in set(map(type, itertools.chain.from_iterable(rows)))


def _blob_free(rows: list[tuple]) -> list[tuple]:
    # SQLite may put a blob in any column of any row, so every value is checked; the check
    # runs at C speed, and only results that hold blobs are rebuilt.
    if not _has_blob(rows):
        return rows
    return [tuple(map(json_friendly, row)) for row in rows]


@contextmanager
def _stream_sqlite(
    data_source: DataSource,
    sql: str,
    values: dict,
    limit: int,
    batch_size: int,
    seconds: float,
    interrupt: QueryInterrupt | None = None,
) -> Iterator[tuple[list[ResultColumn], RowBatches]]:
    with _sqlite_cursor(data_source, sql, values, seconds, interrupt) as (cursor, deadline):

        def fetch(size: int) -> list[tuple]:
            if deadline.stopped:
                raise stopped_failure()
            # The deadline is per batch, like PostgreSQL's statement timeout per FETCH.
            deadline.reset()
            try:
                return cursor.fetchmany(size)
            except sqlite3.Error as exc:
                raise _sqlite_failure(exc, deadline, data_source) from None

        batches = RowBatches(fetch, limit=limit, batch_size=batch_size, clean=_blob_free)
        first = batches.prefetch()
        # SQLite types values, not columns: the first batch tells the column types.
        columns = _sqlite_columns(cursor.description or [], first)
        yield columns, batches


# --- PostgreSQL ----------------------------------------------------------------------


# Types whose PostgreSQL text is what we return: no Python object per value.
POSTGRES_TEXT_TYPES = [
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "json",
    "jsonb",
    "uuid",
    "inet",
    "cidr",
    "bytea",
    "money",
    "xml",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
]


def _postgres_adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    for name in POSTGRES_TEXT_TYPES:
        adapters.register_loader(name, TextLoader)
    # psycopg swaps in its C implementation: a numeric costs what a float8 costs.
    adapters.register_loader("numeric", FloatLoader)
    return adapters


POSTGRES_ADAPTERS = _postgres_adapters()

NUMERIC_OID = postgres.types["numeric"].oid
# The types users see, by PostgreSQL type name.
POSTGRES_TYPE_NAMES = {
    ColumnType.BOOLEAN: "bool",
    ColumnType.INTEGER: "int2 int4 int8 oid",
    ColumnType.NUMBER: "float4 float8 numeric",
    ColumnType.DATE: "date",
    ColumnType.DATETIME: "timestamp timestamptz",
    # Text, and the types loaded as their text (POSTGRES_TEXT_TYPES).
    ColumnType.TEXT: "name text bpchar varchar json jsonb uuid time timetz interval inet cidr "
    "bytea money xml",
}
POSTGRES_COLUMN_TYPES = {
    postgres.types[name].oid: column_type
    for column_type, names in POSTGRES_TYPE_NAMES.items()
    for name in names.split()
}
# "char" and unknown (the type of a bare literal: SELECT 'x') are not in psycopg's registry.
POSTGRES_COLUMN_TYPES |= {18: ColumnType.TEXT, 705: ColumnType.TEXT}
# Values of these types arrive JSON-friendly already (ranges as text, arrays of plain types
# as lists of them); any other column is converted value by value.
POSTGRES_PLAIN_OIDS = frozenset(
    [
        *POSTGRES_COLUMN_TYPES,
        *(postgres.types[name].oid for name in POSTGRES_TEXT_TYPES),
        *(
            postgres.types[name].array_oid
            for name in ["bool", "int2", "int4", "int8", "float4", "float8", "text", "varchar"]
        ),
    ]
)


def _whole_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _postgres_columns(description) -> tuple[list[ResultColumn], dict[int, Any]]:
    columns = []
    converters: dict[int, Any] = {}
    for index, column in enumerate(description or []):
        oid = column.type_code
        columns.append(
            ResultColumn(column.name, POSTGRES_COLUMN_TYPES.get(oid, ColumnType.UNKNOWN))
        )
        if oid == NUMERIC_OID and column.scale == 0:
            converters[index] = _whole_number
        elif oid not in POSTGRES_PLAIN_OIDS:
            converters[index] = json_friendly
    return columns, converters


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


# What a READ ONLY transaction does not stop: a superuser or a member of these roles can
# read and write server files (pg_read_file, large objects, COPY ... TO PROGRAM), and
# BYPASSRLS skips row-level security. Checked for the login role and the current one.
PRIVILEGES_SQL = """
SELECT
    bool_or(r.rolsuper) OR current_setting('is_superuser') = 'on',
    bool_or(pg_has_role(r.oid, 'pg_read_server_files', 'MEMBER')),
    bool_or(pg_has_role(r.oid, 'pg_write_server_files', 'MEMBER')),
    bool_or(pg_has_role(r.oid, 'pg_execute_server_program', 'MEMBER')),
    bool_or(r.rolbypassrls)
FROM pg_roles AS r
WHERE r.rolname IN (session_user, current_user)
"""
PRIVILEGE_NAMES = (
    "is a superuser",
    "is a member of pg_read_server_files (reads any file on the server)",
    "is a member of pg_write_server_files (writes any file on the server)",
    "is a member of pg_execute_server_program (runs programs on the server)",
    "has BYPASSRLS (ignores row-level security)",
)


class PrivilegedRole(Exception):
    """The data source's role can do what a READ ONLY transaction does not stop."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def privilege_problems(flags: tuple) -> list[str]:
    """What is wrong with a role, from the flags PRIVILEGES_SQL returns."""
    if flags and flags[0]:
        return [PRIVILEGE_NAMES[0]]  # A superuser is everything else too: say it once.
    return [name for name, flag in zip(PRIVILEGE_NAMES, flags, strict=False) if flag]


def privileged_role_message(source_name: str, problems: list[str]) -> str:
    return (
        f"The data source {source_name!r} refuses to run: its PostgreSQL role "
        f"{' and '.join(problems)}, which a read-only transaction does not stop. Connect it "
        'as a role that can only read (README, "Read-only PostgreSQL data source"), or, '
        "to accept the risk, add ?allow_privileged=true to its URL."
    )


@contextmanager
def postgres_read_only(
    location: str, *, timeout: float, allow_privileged: bool = False
) -> Iterator[psycopg.Connection]:
    """A connection inside a READ ONLY transaction with local timeouts, always rolled back.

    This is the PostgreSQL connection layer on its own; the executor sends user SQL
    through it with `_run_postgres` (extended protocol, one statement). Raises
    PrivilegedRole when the role is a superuser, may read or write server files or run
    programs, or bypasses row-level security, unless `allow_privileged`.
    """
    connection = psycopg.connect(
        location,
        autocommit=True,
        # A background query may run for many minutes; a server that does not answer the
        # connection is down all the same after half a minute.
        connect_timeout=max(2, int(min(timeout, 30)) + 1),
        application_name="llm-artifacts",
        context=POSTGRES_ADAPTERS,
    )
    try:
        # Our own fixed statement with numbers we computed: the simple protocol is fine
        # here and saves round trips. SET LOCAL lasts only for this transaction.
        cursor = connection.execute(
            "BEGIN READ ONLY; "
            f"SET LOCAL statement_timeout = {_milliseconds(timeout)}; "
            f"SET LOCAL lock_timeout = {_milliseconds(min(timeout, 5))}; "
            # Streams pause between batches while the client reads; allow for that, but
            # never leave a transaction open indefinitely.
            f"SET LOCAL idle_in_transaction_session_timeout = {_milliseconds(timeout + 60)}; "
            # Taking a snapshot locks the READ ONLY mode in: until the first query,
            # `SET TRANSACTION READ WRITE` could still turn it off. The privileges check
            # is that first query, in the same round trip: it costs no extra trip per query
            # and sees the role as it is now.
            + PRIVILEGES_SQL
        )
        while cursor.nextset():
            pass  # The results of BEGIN and SET come first; the check's row is last.
        problems = privilege_problems(cursor.fetchone() or ())
        if problems and not allow_privileged:
            raise PrivilegedRole(problems)
        yield connection
    finally:
        try:
            if not connection.closed:
                connection.execute("ROLLBACK")
        except psycopg.Error:
            pass  # The connection is closed next; the server rolls back on its own.
        finally:
            connection.close()


def _run_postgres(connection: psycopg.Connection, sql: str, params: list) -> psycopg.Cursor:
    """Declare a server-side cursor for one statement, for streaming in batches.

    DECLARE always uses the extended protocol, which runs exactly one statement.
    """
    cursor = psycopg.RawServerCursor(connection, "artifact_query")
    cursor.execute(sql, params)
    return cursor


def _run_postgres_capped(
    connection: psycopg.Connection, capped_sql: str, params: list, limit: int
) -> psycopg.Cursor:
    """Run a statement whose LIMIT is its last parameter, bound to `limit`.

    A plain cursor receives the whole result, so the LIMIT is what bounds it; the bound
    parameter also means the extended protocol, which runs exactly one statement.
    """
    cursor = psycopg.RawCursor(connection)
    cursor.execute(capped_sql, [*params, limit])
    return cursor


# numeric values load as floats (POSTGRES_ADAPTERS); past a float's range they cannot.
NUMERIC_OVERFLOW = (
    "A numeric value in the result is too large to show as a number (beyond 1.8e308); "
    "cast it to text (value::text) to see its digits."
)


def _postgres_failure(
    exc: psycopg.Error,
    seconds: float,
    data_source: DataSource,
    interrupt: QueryInterrupt | None = None,
) -> QueryFailed:
    """What a psycopg error raised while the query ran means, for the user who ran it."""
    if _interrupted(interrupt):
        return stopped_failure()
    if isinstance(exc, pg_errors.QueryCanceled):
        return QueryFailed(Outcome.TIMEOUT, _timeout_message(seconds))
    if isinstance(exc, pg_errors.LockNotAvailable):
        return QueryFailed(
            Outcome.TIMEOUT, gettext("The query waited too long for a lock and was stopped.")
        )
    diag = getattr(exc, "diag", None)
    sqlstate = (diag.sqlstate if diag else None) or ""
    text = " ".join(str(exc).split())
    message = mask_secrets((diag.message_primary if diag else None) or text)
    if (
        not sqlstate  # the server never answered, or the connection broke
        or sqlstate.startswith(POSTGRES_SETUP_SQLSTATES)
        or looks_like_setup(text, data_source.location)
    ):
        return postgres_setup_failure(exc, data_source)
    if isinstance(exc, (pg_errors.ReadOnlySqlTransaction, pg_errors.InsufficientPrivilege)):
        return QueryFailed(
            Outcome.REJECTED,
            gettext("The data source refused the statement: %(error)s.") % {"error": message},
        )
    return QueryFailed(Outcome.ERROR, message)


# SQLSTATEs of the server or its set-up, not of the query: connection exceptions (08),
# invalid authorization (28), no such database (3D), too many connections (53300),
# shutting down or not accepting connections (57P), system and internal errors (58, XX),
# configuration file errors (F0).
POSTGRES_SETUP_SQLSTATES = ("08", "28", "3D", "53300", "57P", "58", "XX", "F0")


def postgres_setup_failure(exc: psycopg.Error, data_source: DataSource) -> QueryFailed:
    """The source cannot be used: plain words for the user; the driver's text, which names
    the host, port and role, for staff and the log, with the source's password masked."""
    text = " ".join(str(exc).split())
    detail = f"{mask_secrets(text, data_source.location)} (source {data_source.display_location})"
    return setup_failure(data_source.name, detail)


def _postgres_params(checked: CheckedSQL, values: dict) -> list:
    return [values[name] for name in checked.parameters]


@contextmanager
def connect_postgres(data_source: DataSource, *, timeout: float) -> Iterator[psycopg.Connection]:
    """postgres_read_only() for a configured source. Failing to connect (refused, bad
    credentials, no such database, SSL) or a privileged role is a QueryFailed of the
    set-up: plain words and a reference for the user, the details for operators. Errors
    of what runs on the connection are raised as they are."""
    connected = False
    try:
        with postgres_read_only(
            data_source.location, timeout=timeout, allow_privileged=data_source.allow_privileged
        ) as connection:
            connected = True
            yield connection
    except PrivilegedRole as exc:
        raise setup_failure(
            data_source.name,
            privileged_role_message(data_source.name, exc.problems),
            safe=False,
        ) from None
    except psycopg.Error as exc:
        if connected:
            raise
        raise postgres_setup_failure(exc, data_source) from None


def _execute_postgres(
    data_source: DataSource,
    checked: CheckedSQL,
    values: dict,
    fetch: int,
    seconds: float,
    interrupt: QueryInterrupt | None = None,
) -> tuple[list[ResultColumn], list[tuple]]:
    params = _postgres_params(checked, values)
    try:
        with connect_postgres(data_source, timeout=seconds) as connection:
            with _attached(interrupt, connection):
                cursor = _run_postgres_capped(connection, checked.capped_statement, params, fetch)
                rows = cursor.fetchall()
            columns, converters = _postgres_columns(cursor.description)
    except psycopg.Error as exc:
        raise _postgres_failure(exc, seconds, data_source, interrupt) from None
    except OverflowError:
        raise QueryFailed(Outcome.ERROR, NUMERIC_OVERFLOW) from None
    return columns, _convert_columns(rows, converters)


@contextmanager
def _attached(interrupt: QueryInterrupt | None, connection: psycopg.Connection) -> Iterator[None]:
    """While the block runs, interrupt.request() sends PostgreSQL a cancel request for it."""
    if interrupt is None:
        yield
        return
    interrupt.attach(connection.cancel_safe)
    try:
        yield
    finally:
        interrupt.detach()


@contextmanager
def _stream_postgres(
    data_source: DataSource,
    checked: CheckedSQL,
    values: dict,
    limit: int,
    batch_size: int,
    seconds: float,
    interrupt: QueryInterrupt | None = None,
) -> Iterator[tuple[list[ResultColumn], RowBatches]]:
    params = _postgres_params(checked, values)
    with ExitStack() as stack:
        try:
            connection = stack.enter_context(connect_postgres(data_source, timeout=seconds))
            stack.enter_context(_attached(interrupt, connection))
            cursor = _run_postgres(connection, checked.statement, params)
        except psycopg.Error as exc:
            raise _postgres_failure(exc, seconds, data_source, interrupt) from None
        columns, converters = _postgres_columns(cursor.description)

        def fetch(size: int) -> list[tuple]:
            if _interrupted(interrupt):
                raise stopped_failure()
            try:
                return cursor.fetchmany(size)
            except psycopg.Error as exc:
                raise _postgres_failure(exc, seconds, data_source, interrupt) from None
            except OverflowError:
                raise QueryFailed(Outcome.ERROR, NUMERIC_OVERFLOW) from None

        def clean(batch: list[tuple]) -> list[tuple]:
            return _convert_columns(batch, converters)

        batches = RowBatches(fetch, limit=limit, batch_size=batch_size, clean=clean)
        batches.prefetch()
        yield columns, batches
