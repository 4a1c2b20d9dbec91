"""The executor on SQLite: results, bounds, bound parameters, and the connection layer
holding on its own (each of its protections separately too)."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from apps.datasources.executor import (
    QueryFailed,
    ResultColumn,
    connect_sqlite,
    execute,
    read_only_authorizer,
    stream,
)
from apps.datasources.guard import CheckedSQL
from tests.datasources import sample
from tests.datasources.test_guard import SQLITE_ONLY, WRITES

PARAMS = {"status": "paid", "minimum": 10, "since": "2024-01-01"}
RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


def test_join_with_grouping_returns_rows_and_typed_columns(shop_sqlite: Path) -> None:
    result = execute(
        "shop",
        "SELECT c.country, count(*) AS orders, sum(o.total) AS revenue "
        "FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.country ORDER BY orders DESC, c.country",
    )
    assert result.columns == [
        ResultColumn("country", "text"),
        ResultColumn("orders", "integer"),
        ResultColumn("revenue", "number"),
    ]
    assert result.rows == [("GB", 5, 1484.24), ("US", 4, 982.25), ("NL", 1, 42.0)]
    assert result.row_count == 3
    assert result.truncated is False
    assert result.duration_ms > 0


def test_column_types_follow_the_values(shop_sqlite: Path) -> None:
    result = execute(
        "shop",
        "SELECT c.signed_up_at, o.ordered_at, c.email, c.is_vip, o.total, NULL AS empty "
        "FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY o.id",
    )
    assert [column.type for column in result.columns] == [
        "date",
        "datetime",
        "text",
        "integer",
        "number",
        "unknown",
    ]
    assert result.rows[0] == (
        "2023-01-05",
        "2024-01-03 10:00:00",
        "ada@example.com",
        1,
        120.5,
        None,
    )


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(sql, id=name)
        for group in (sample.ANALYTICS_BOTH, sample.ANALYTICS_SQLITE)
        for name, sql in group.items()
    ],
)
def test_legitimate_analytics_sql_runs(shop_sqlite: Path, sql: str) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    result = execute("shop", sql, PARAMS)
    assert result.columns
    json.dumps(result.rows)  # every value is JSON-friendly
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_recursive_cte_walks_the_category_tree(shop_sqlite: Path) -> None:
    result = execute("shop", sample.ANALYTICS_BOTH["recursive_cte"])
    assert result.rows == [
        (1, "Electronics", 0),
        (4, "Books", 0),
        (2, "Phones", 1),
        (3, "Smartphones", 2),
    ]


def test_window_functions_and_case(shop_sqlite: Path) -> None:
    result = execute(
        "shop",
        "SELECT id, rank() OVER (ORDER BY total DESC) AS r, "
        "CASE WHEN total > 100 THEN 'big' ELSE 'small' END AS size "
        "FROM orders WHERE status = 'paid' ORDER BY id",
    )
    assert result.rows == [(1, 3, "big"), (4, 2, "big"), (9, 4, "small"), (10, 1, "big")]


def test_date_functions(shop_sqlite: Path) -> None:
    result = execute(
        "shop",
        "SELECT strftime('%Y-%m', ordered_at) AS month, count(*) FROM orders "
        "WHERE date(ordered_at) >= date('2024-03-01') GROUP BY month ORDER BY month",
    )
    assert result.rows == [("2024-03", 3), ("2024-04", 2)]


def test_string_literals_that_look_like_sql_or_parameters_are_data(shop_sqlite: Path) -> None:
    result = execute("shop", "SELECT ':notaparam' AS a, 'DROP TABLE orders; --' AS b")
    assert result.rows == [(":notaparam", "DROP TABLE orders; --")]


def test_parameters_are_bound_by_the_driver(shop_sqlite: Path) -> None:
    result = execute(
        "shop",
        "SELECT id FROM orders WHERE status = :status AND total > :minimum ORDER BY id",
        {"status": "paid", "minimum": 100, "unused": "ignored"},
    )
    assert result.rows == [(1,), (4,), (10,)]


def test_parameter_values_are_never_sql(shop_sqlite: Path) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    injection = "'; DROP TABLE orders; --"
    result = execute(
        "shop",
        "SELECT :value AS v, count(*) FROM orders WHERE status = :value",
        {"value": injection},
    )
    assert result.rows == [(injection, 0)]
    assert execute("shop", "SELECT count(*) FROM orders").rows == [(10,)]
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_a_parameter_without_a_value_is_an_error(shop_sqlite: Path) -> None:
    with pytest.raises(QueryFailed) as caught:
        execute("shop", "SELECT * FROM orders WHERE status = :status", {})
    assert caught.value.outcome == "error"
    assert ":status" in caught.value.message


def test_a_parameter_value_that_cannot_be_bound_is_an_error(shop_sqlite: Path) -> None:
    with pytest.raises(QueryFailed, match=":ids is a list"):
        execute("shop", "SELECT * FROM orders WHERE id = :ids", {"ids": [1, 2]})


def test_truncates_at_max_rows_and_says_so(shop_sqlite: Path) -> None:
    result = execute("shop", "SELECT id FROM orders ORDER BY id", max_rows=3)
    assert result.rows == [(1,), (2,), (3,)]
    assert result.row_count == 3
    assert result.truncated is True
    exact = execute("shop", "SELECT id FROM orders", max_rows=10)
    assert exact.row_count == 10
    assert exact.truncated is False


def test_the_source_row_cap_applies_by_default(shop_sqlite: Path, settings) -> None:
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite}?max_rows=4"
    result = execute("shop", "SELECT id FROM orders")
    assert result.row_count == 4
    assert result.truncated is True


def test_blobs_come_back_as_hex_text(tmp_path: Path, settings) -> None:
    path = tmp_path / "blobs.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE files (id INTEGER, body BLOB)")
        connection.executemany("INSERT INTO files VALUES (?, ?)", [(1, b"\x00\xff"), (2, None)])
    settings.DATA_SOURCES = f"files=sqlite:///{path}"
    result = execute("files", "SELECT * FROM files ORDER BY id")
    assert result.rows == [(1, "\\x00ff"), (2, None)]


def test_runaway_query_is_stopped_at_the_timeout_and_the_next_query_works(
    shop_sqlite: Path,
) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        execute("shop", RUNAWAY, timeout=1)
    elapsed = time.monotonic() - started
    assert caught.value.outcome == "timeout"
    assert "1 s" in caught.value.message
    assert 0.9 <= elapsed < 2.0
    assert execute("shop", "SELECT count(*) FROM orders").rows == [(10,)]
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_runaway_cross_join_is_stopped_too(shop_sqlite: Path) -> None:
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        execute(
            "shop",
            "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, "
            "orders f, orders g, orders h, orders i",
            timeout=1,
        )
    assert caught.value.outcome == "timeout"
    assert time.monotonic() - started < 2.0


def test_sql_errors_are_reported_in_plain_words(shop_sqlite: Path) -> None:
    with pytest.raises(QueryFailed) as caught:
        execute("shop", "SELECT nope FROM orders")
    assert caught.value.outcome == "error"
    assert caught.value.message == "no such column: nope"


def test_unknown_source_is_an_error(shop_sqlite: Path) -> None:
    with pytest.raises(QueryFailed) as caught:
        execute("elsewhere", "SELECT 1")
    assert caught.value.outcome == "error"
    assert "Unknown data source 'elsewhere'" in caught.value.message


def test_missing_database_file_is_an_error_and_is_not_created(tmp_path: Path, settings) -> None:
    missing = tmp_path / "missing.sqlite3"
    settings.DATA_SOURCES = f"gone=sqlite:///{missing}"
    with pytest.raises(QueryFailed, match="'gone' is not reachable right now") as caught:
        execute("gone", "SELECT 1")
    assert str(missing) not in caught.value.message
    assert str(missing) in caught.value.detail
    assert not missing.exists()


# --- layer 1 through the executor --------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [pytest.param(sql, id=name) for group in (WRITES, SQLITE_ONLY) for name, sql in group.items()],
)
def test_rejected_statements_change_nothing(shop_sqlite: Path, sql: str) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    with pytest.raises(QueryFailed) as caught:
        execute("shop", sql)
    assert caught.value.outcome == "rejected"
    assert sample.sqlite_fingerprint(shop_sqlite) == before


# --- layer 2 on its own: the guard bypassed ----------------------------------------------

# Statements sent straight to the connection, as if the guard had let them through.
CONNECTION_WRITES = {
    "insert": "INSERT INTO orders VALUES (99, 1, 1, 'new', '2024-05-01', 1.0)",
    "update": "UPDATE orders SET total = 0",
    "delete": "DELETE FROM orders",
    "replace": "REPLACE INTO orders VALUES (1, 1, 1, 'new', '2024-05-01', 1.0)",
    "create_table": "CREATE TABLE loot (a)",
    "create_temp_table": "CREATE TEMP TABLE loot (a)",
    "create_table_as": "CREATE TABLE loot AS SELECT * FROM orders",
    "create_index": "CREATE INDEX orders_total ON orders (total)",
    "create_view": "CREATE VIEW loot AS SELECT 1",
    "create_trigger": "CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM customers; END",
    "drop_table": "DROP TABLE orders",
    "drop_view": "DROP VIEW paid_orders",
    "alter_table": "ALTER TABLE orders ADD COLUMN note TEXT",
    "attach": "ATTACH DATABASE '{dir}/loot.sqlite3' AS loot",
    "attach_memory": "ATTACH DATABASE ':memory:' AS loot",
    "pragma_writable_schema": "PRAGMA writable_schema = ON",
    "pragma_user_version": "PRAGMA user_version = 7",
    "pragma_query_only_off": "PRAGMA query_only = OFF",
    "pragma_journal_mode": "PRAGMA journal_mode = WAL",
    "vacuum": "VACUUM",
    "vacuum_into": "VACUUM INTO '{dir}/copy.sqlite3'",
    "reindex": "REINDEX",
    "analyze": "ANALYZE",
    "begin_immediate": "BEGIN IMMEDIATE",
    "savepoint": "SAVEPOINT s1",
    "load_extension": "SELECT load_extension('/tmp/evil.so')",
    "select_into_is_not_sqlite_but_try": "SELECT * INTO loot FROM orders",
}


@pytest.mark.parametrize(
    "sql", [pytest.param(sql, id=name) for name, sql in CONNECTION_WRITES.items()]
)
def test_the_connection_alone_refuses_writes(shop_sqlite: Path, sql: str) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    connection = connect_sqlite(str(shop_sqlite))
    try:
        with pytest.raises(sqlite3.Error):
            connection.execute(sql.format(dir=shop_sqlite.parent)).fetchall()
        # The connection still reads, and what it reads is untouched.
        assert connection.execute("SELECT count(*) FROM orders").fetchone() == (10,)
    finally:
        connection.close()
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_the_connection_refuses_a_second_statement(shop_sqlite: Path) -> None:
    connection = connect_sqlite(str(shop_sqlite))
    try:
        with pytest.raises(sqlite3.Error):
            connection.execute("SELECT 1; DELETE FROM orders")
    finally:
        connection.close()


DML_AND_DDL = [
    "INSERT INTO orders VALUES (99, 1, 1, 'new', '2024-05-01', 1.0)",
    "UPDATE orders SET total = 0",
    "DELETE FROM orders",
    "CREATE TABLE loot (a)",
    "DROP TABLE orders",
    "ALTER TABLE orders ADD COLUMN note TEXT",
]


def _read_only_file(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def _query_only(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA query_only = ON")
    return connection


def _authorizer_only(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.set_authorizer(read_only_authorizer)
    return connection


@pytest.mark.parametrize("open_connection", [_read_only_file, _query_only, _authorizer_only])
@pytest.mark.parametrize("sql", DML_AND_DDL)
def test_each_sqlite_protection_alone_refuses_writes(
    shop_sqlite: Path, open_connection, sql
) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    connection = open_connection(shop_sqlite)
    try:
        with pytest.raises(sqlite3.Error):
            connection.execute(sql)
    finally:
        connection.close()
    assert sample.sqlite_fingerprint(shop_sqlite) == before


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{dir}/loot.sqlite3' AS loot",
        "PRAGMA writable_schema = ON",
        "PRAGMA query_only = OFF",
        "VACUUM",
        "SELECT load_extension('x')",
    ],
)
def test_the_authorizer_alone_refuses_attach_pragma_and_vacuum(shop_sqlite: Path, sql: str) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    connection = _authorizer_only(shop_sqlite)
    try:
        # VACUUM is refused on the ATTACH it does internally: "authorization denied".
        with pytest.raises(sqlite3.DatabaseError, match=r"not authorized|authorization denied"):
            connection.execute(sql.format(dir=shop_sqlite.parent))
    finally:
        connection.close()
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_the_authorizer_refuses_dangerous_functions_by_name() -> None:
    deny, ok = sqlite3.SQLITE_DENY, sqlite3.SQLITE_OK
    for name in ("load_extension", "readfile", "writefile", "fts3_tokenizer", "LOAD_EXTENSION"):
        assert read_only_authorizer(sqlite3.SQLITE_FUNCTION, None, name, None, None) == deny
    for name in ("count", "strftime", "random"):
        assert read_only_authorizer(sqlite3.SQLITE_FUNCTION, None, name, None, None) == ok
    assert read_only_authorizer(sqlite3.SQLITE_READ, "orders", "id", "main", None) == ok
    assert read_only_authorizer(sqlite3.SQLITE_INSERT, "orders", None, "main", None) == deny


def test_a_write_refused_by_the_connection_is_reported_as_rejected(
    shop_sqlite: Path, monkeypatch
) -> None:
    # Simulate a guard that lets a write through: the connection still refuses it.
    from apps.datasources import executor

    real = executor.parse_checked

    def lenient_guard(sql: str, *, dialect: str, **options) -> CheckedSQL:
        return replace(real("SELECT 1", dialect=dialect, **options), statement=sql)

    monkeypatch.setattr(executor, "parse_checked", lenient_guard)
    before = sample.sqlite_fingerprint(shop_sqlite)
    with pytest.raises(QueryFailed) as caught:
        execute("shop", "DELETE FROM orders")
    assert caught.value.outcome == "rejected"
    assert "refused" in caught.value.message
    assert sample.sqlite_fingerprint(shop_sqlite) == before


# --- streaming ---------------------------------------------------------------------------


def test_stream_yields_batches_up_to_the_cap(shop_sqlite: Path) -> None:
    with stream("shop", "SELECT id FROM orders ORDER BY id", batch_size=4) as (columns, batches):
        assert columns == [ResultColumn("id", "integer")]
        produced = [[row[0] for row in batch] for batch in batches]
    assert produced == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert batches.row_count == 10
    assert batches.truncated is False


def test_stream_stops_at_max_rows_and_says_it_was_truncated(shop_sqlite: Path) -> None:
    with stream("shop", "SELECT id FROM orders", max_rows=5, batch_size=2) as (_, batches):
        sizes = [len(batch) for batch in batches]
    assert sizes == [2, 2, 1]
    assert batches.truncated is True
    with stream("shop", "SELECT id FROM orders", max_rows=10, batch_size=3) as (_, batches):
        assert sum(len(batch) for batch in batches) == 10
    assert batches.truncated is False


def test_stream_uses_the_export_cap_by_default(shop_sqlite: Path, settings) -> None:
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite}?export_max_rows=3&max_rows=1"
    with stream("shop", "SELECT id FROM orders") as (_, batches):
        assert sum(len(batch) for batch in batches) == 3
    assert batches.truncated is True


def test_stream_of_a_runaway_query_fails_before_the_first_row(shop_sqlite: Path) -> None:
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught, stream("shop", RUNAWAY, timeout=1):
        pytest.fail("the stream should not open")
    assert caught.value.outcome == "timeout"
    assert time.monotonic() - started < 2.0


def test_stream_refuses_writes(shop_sqlite: Path) -> None:
    with pytest.raises(QueryFailed) as caught, stream("shop", "DELETE FROM orders"):
        pytest.fail("the stream should not open")
    assert caught.value.outcome == "rejected"


def test_stream_turns_blobs_into_hex_text(tmp_path: Path, settings) -> None:
    path = tmp_path / "blobs.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE files (id INTEGER, body)")
        connection.executemany(
            "INSERT INTO files VALUES (?, ?)", [(1, "text"), (2, None), (3, b"\x01")]
        )
    settings.DATA_SOURCES = f"files=sqlite:///{path}"
    with stream("files", "SELECT * FROM files ORDER BY id", batch_size=2) as (_, batches):
        rows = [row for batch in batches for row in batch]
    assert rows == [(1, "text"), (2, None), (3, "\\x01")]
