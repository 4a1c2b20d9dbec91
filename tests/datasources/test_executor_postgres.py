"""The executor on a real PostgreSQL, through a role that owns every table and through a
role that may only SELECT: the READ ONLY transaction alone must hold for the owner."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql as pgsql

from apps.datasources.executor import (
    QueryFailed,
    ResultColumn,
    _run_postgres,
    _run_postgres_capped,
    execute,
    postgres_read_only,
    stream,
)
from apps.datasources.guard import CheckedSQL
from tests.datasources import sample
from tests.datasources.test_guard import POSTGRES_FUNCTIONS, POSTGRES_ONLY, WRITES
from tests.postgres import ShopDatabase, checksum, url_for

pytestmark = pytest.mark.postgres

PARAMS = {"status": "paid", "minimum": 10, "since": "2024-01-01"}
RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
ROLES = ["owner", "reader"]


@pytest.mark.parametrize("source", ROLES)
def test_join_with_grouping_returns_rows_and_typed_columns(
    postgres_sources: ShopDatabase, source: str
) -> None:
    result = execute(
        source,
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
    assert result.truncated is False


def test_column_types_come_from_the_server(postgres_sources: ShopDatabase) -> None:
    result = execute(
        "reader",
        "SELECT c.signed_up_at, o.ordered_at, c.email, c.is_vip, o.total, o.id, "
        "sum(o.id) OVER () AS whole, o.ordered_at::timestamptz AT TIME ZONE 'UTC' AS utc, "
        "NULL::text AS empty, ARRAY[1, 2] AS ids, '{\"a\": 1}'::jsonb AS doc "
        "FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY o.id LIMIT 1",
    )
    assert [(column.name, column.type) for column in result.columns] == [
        ("signed_up_at", "date"),
        ("ordered_at", "datetime"),
        ("email", "text"),
        ("is_vip", "boolean"),
        ("total", "number"),
        ("id", "integer"),
        ("whole", "integer"),
        ("utc", "datetime"),
        ("empty", "text"),
        ("ids", "unknown"),
        ("doc", "text"),
    ]
    assert result.rows == [
        (
            "2023-01-05",
            "2024-01-03 10:00:00",
            "ada@example.com",
            True,
            120.5,
            1,
            55,
            "2024-01-03 10:00:00",
            None,
            [1, 2],
            '{"a": 1}',
        )
    ]
    json.dumps(result.rows)


@pytest.mark.parametrize("source", ROLES)
@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(sql, id=name)
        for group in (sample.ANALYTICS_BOTH, sample.ANALYTICS_POSTGRES)
        for name, sql in group.items()
    ],
)
def test_legitimate_analytics_sql_runs(
    postgres_sources: ShopDatabase, source: str, sql: str
) -> None:
    result = execute(source, sql, PARAMS)
    assert result.columns
    json.dumps(result.rows)


def test_recursive_cte_walks_the_category_tree(postgres_sources: ShopDatabase) -> None:
    result = execute("owner", sample.ANALYTICS_BOTH["recursive_cte"])
    assert sorted(result.rows, key=lambda row: (row[2], row[0])) == [
        (1, "Electronics", 0),
        (4, "Books", 0),
        (2, "Phones", 1),
        (3, "Smartphones", 2),
    ]


def test_casts_percent_signs_and_colons_survive_with_parameters(
    postgres_sources: ShopDatabase,
) -> None:
    result = execute(
        "reader",
        "SELECT :n::int + 1 AS next, '50%' LIKE '5%' AS matches, ':notaparam' AS literal, "
        "'DROP TABLE orders; --' AS text, total::int FROM orders WHERE id = :n",
        {"n": 2},
    )
    assert result.rows == [(3, True, ":notaparam", "DROP TABLE orders; --", 35)]


def test_parameter_values_are_never_sql(postgres_sources: ShopDatabase) -> None:
    before = checksum(postgres_sources.admin_url)
    injection = "'; DROP TABLE orders; --"
    result = execute(
        "owner",
        "SELECT :value AS v, count(*) FROM orders WHERE status = :value",
        {"value": injection},
    )
    assert result.rows == [(injection, 0)]
    assert checksum(postgres_sources.admin_url) == before


def test_typed_parameters_bind(postgres_sources: ShopDatabase) -> None:
    result = execute(
        "reader",
        "SELECT id FROM orders WHERE total > :minimum AND ordered_at >= :since "
        "AND (status = :status OR :any_status) ORDER BY id",
        {"minimum": 100.5, "since": "2024-02-01", "status": "paid", "any_status": False},
    )
    assert result.rows == [(4,), (10,)]


def test_truncates_at_max_rows_and_says_so(postgres_sources: ShopDatabase) -> None:
    result = execute("reader", "SELECT id FROM orders ORDER BY id", max_rows=3)
    assert result.rows == [(1,), (2,), (3,)]
    assert result.truncated is True
    assert execute("reader", "SELECT id FROM orders", max_rows=10).truncated is False


@pytest.mark.parametrize("source", ROLES)
def test_runaway_query_is_stopped_at_the_timeout_and_the_server_keeps_answering(
    postgres_sources: ShopDatabase, source: str
) -> None:
    before = checksum(postgres_sources.admin_url)
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        execute(source, RUNAWAY, timeout=1)
    elapsed = time.monotonic() - started
    assert caught.value.outcome == "timeout"
    assert 0.9 <= elapsed < 2.0
    assert execute(source, "SELECT count(*) FROM orders").rows == [(10,)]
    assert checksum(postgres_sources.admin_url) == before
    with psycopg.connect(postgres_sources.admin_url) as admin:
        # Nothing of ours is left running or holding a transaction open.
        lingering = admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'llm-artifacts' AND datname = current_database()"
        ).fetchone()[0]
    assert lingering == 0


def test_sql_errors_are_reported_in_plain_words(postgres_sources: ShopDatabase) -> None:
    with pytest.raises(QueryFailed) as caught:
        execute("reader", "SELECT nope FROM orders")
    assert caught.value.outcome == "error"
    assert caught.value.message == 'column "nope" does not exist'


def test_an_unreachable_server_is_an_error(settings) -> None:
    settings.DATA_SOURCES = "down=postgresql://nobody@127.0.0.1:1/none"
    with pytest.raises(QueryFailed) as caught:
        execute("down", "SELECT 1", timeout=1)
    assert caught.value.outcome == "error"
    assert "The data source 'down' is not reachable right now." in caught.value.message
    assert "127.0.0.1" not in caught.value.message and "nobody" not in caught.value.message
    assert "127.0.0.1" in caught.value.detail  # for operators


# --- layer 1 through the executor --------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(sql, id=name)
        for group in (WRITES, POSTGRES_ONLY, POSTGRES_FUNCTIONS)
        for name, sql in group.items()
    ],
)
def test_rejected_statements_change_nothing(postgres_sources: ShopDatabase, sql: str) -> None:
    before = checksum(postgres_sources.admin_url)
    with pytest.raises(QueryFailed) as caught:
        execute("owner", sql, timeout=2)
    assert caught.value.outcome == "rejected"
    assert checksum(postgres_sources.admin_url) == before


# --- layer 2 on its own: the guard bypassed, as the OWNER of every table -----------------

TRANSACTION_WRITES = {
    "insert": "INSERT INTO orders VALUES (99, 1, 1, 'new', now(), 1)",
    "update": "UPDATE orders SET total = 0",
    "delete": "DELETE FROM orders",
    "delete_in_cte": "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
    "merge": "MERGE INTO orders o USING customers c ON o.id = c.id WHEN MATCHED THEN DELETE",
    "truncate": "TRUNCATE orders CASCADE",
    "create_table": "CREATE TABLE loot (a int)",
    "create_table_as": "CREATE TABLE loot AS SELECT * FROM orders",
    "select_into": "SELECT * INTO loot FROM orders",
    "create_temp_table": "CREATE TEMP TABLE loot (a int)",
    "create_index": "CREATE INDEX orders_total ON orders (total)",
    "create_function": "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "drop_table": "DROP TABLE orders CASCADE",
    "alter_table": "ALTER TABLE orders ADD COLUMN note text",
    "comment_on": "COMMENT ON TABLE orders IS 'pwned'",
    "grant": "GRANT ALL ON orders TO PUBLIC",
    "nextval": "SELECT nextval('orders_id_seq')",
    "setval": "SELECT setval('orders_id_seq', 1)",
    "for_update": "SELECT * FROM orders FOR UPDATE",
    "do_block": "DO $$ BEGIN DELETE FROM orders; END $$",
    "set_transaction_read_write": "SET TRANSACTION READ WRITE",
    "set_transaction_read_only_off": "SET transaction_read_only = off",
    "vacuum": "VACUUM orders",
    "refresh_sequence_by_copy": "COPY orders FROM STDIN",
}


@pytest.mark.parametrize(
    "sql", [pytest.param(sql, id=name) for name, sql in TRANSACTION_WRITES.items()]
)
def test_the_read_only_transaction_alone_refuses_the_owners_writes(
    postgres_sources: ShopDatabase, sql: str
) -> None:
    before = checksum(postgres_sources.admin_url)
    with postgres_read_only(postgres_sources.owner_url, timeout=5) as connection:
        with pytest.raises(psycopg.Error):
            # The simple protocol: the statement exactly as written, no cursor around it.
            connection.execute(sql)
        connection.execute("ROLLBACK")
    assert checksum(postgres_sources.admin_url) == before


# PostgreSQL lets these through a READ ONLY transaction; the rollback that always ends it
# undoes them (and the guard refuses lo_* functions before they get here).
UNDONE_BY_ROLLBACK = {
    "large_object_from_bytea": "SELECT lo_from_bytea(0, 'x')",
    "large_object_create": "SELECT lo_create(0)",
}


@pytest.mark.parametrize(
    "sql", [pytest.param(sql, id=name) for name, sql in UNDONE_BY_ROLLBACK.items()]
)
def test_the_rollback_undoes_what_read_only_lets_through(
    postgres_sources: ShopDatabase, sql: str
) -> None:
    before = checksum(postgres_sources.admin_url)
    with postgres_read_only(postgres_sources.owner_url, timeout=5) as connection:
        connection.execute(sql)
    assert checksum(postgres_sources.admin_url) == before


@pytest.mark.parametrize(
    "sql",
    [
        "COMMIT; DELETE FROM orders",
        "ROLLBACK; DELETE FROM orders",
        "SELECT 1; COMMIT; DELETE FROM orders",
        "COMMIT",
        "END",
        # Not a write, but it would block others until the rollback: the cursor refuses it.
        "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE",
    ],
)
def test_the_executors_statement_paths_cannot_leave_the_transaction(
    postgres_sources: ShopDatabase, sql: str
) -> None:
    before = checksum(postgres_sources.admin_url)
    for run in (
        lambda connection: _run_postgres(connection, sql, []).fetchall(),
        lambda connection: _run_postgres_capped(
            connection, f"SELECT * FROM ({sql}) AS r LIMIT $1", [], 10
        ).fetchall(),
    ):
        with postgres_read_only(postgres_sources.owner_url, timeout=5) as connection:
            with pytest.raises(psycopg.Error):
                run(connection)
            connection.execute("ROLLBACK")
    assert checksum(postgres_sources.admin_url) == before


def test_the_transaction_is_read_only_with_local_timeouts(postgres_sources: ShopDatabase) -> None:
    with postgres_read_only(postgres_sources.owner_url, timeout=3) as connection:
        settings = connection.execute(
            "SELECT current_setting('transaction_read_only'), "
            "current_setting('statement_timeout'), current_setting('lock_timeout'), "
            "current_setting('idle_in_transaction_session_timeout')"
        ).fetchone()
    assert settings == ("on", "3s", "3s", "63s")


def test_a_write_refused_by_the_transaction_is_reported_as_rejected(
    postgres_sources: ShopDatabase, monkeypatch
) -> None:
    # Simulate a guard that lets a write through: the transaction still refuses it.
    from apps.datasources import executor

    real = executor.parse_checked

    def lenient_guard(sql: str, *, dialect: str, **options) -> CheckedSQL:
        return replace(
            real(sql, dialect=dialect, **options),
            capped_statement="SELECT nextval('orders_id_seq') LIMIT $1",
        )

    monkeypatch.setattr(executor, "parse_checked", lenient_guard)
    before = checksum(postgres_sources.admin_url)
    with pytest.raises(QueryFailed) as caught:
        execute("owner", "SELECT 1")
    assert caught.value.outcome == "rejected"
    assert "read-only transaction" in caught.value.message
    assert checksum(postgres_sources.admin_url) == before


# --- the SELECT-only role on its own: no read-only transaction at all ---------------------

ROLE_WRITES = [
    "INSERT INTO orders VALUES (99, 1, 1, 'new', now(), 1)",
    "UPDATE orders SET total = 0",
    "DELETE FROM orders",
    "TRUNCATE orders",
    "DROP TABLE orders",
    "ALTER TABLE orders ADD COLUMN note text",
    "CREATE TABLE loot (a int)",
    "SELECT nextval('orders_id_seq')",
]


@pytest.mark.parametrize("sql", ROLE_WRITES)
def test_the_select_only_role_alone_refuses_writes(
    postgres_sources: ShopDatabase, sql: str
) -> None:
    before = checksum(postgres_sources.admin_url)
    with (
        psycopg.connect(postgres_sources.reader_url, autocommit=True) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute(sql)
    assert checksum(postgres_sources.admin_url) == before


# --- streaming through a server-side cursor ---------------------------------------------


def test_stream_yields_batches_up_to_the_cap(postgres_sources: ShopDatabase) -> None:
    with stream("reader", "SELECT id, total FROM orders ORDER BY id", batch_size=4) as (
        columns,
        batches,
    ):
        assert columns == [ResultColumn("id", "integer"), ResultColumn("total", "number")]
        sizes = [len(batch) for batch in batches]
    assert sizes == [4, 4, 2]
    assert batches.truncated is False
    with stream("reader", "SELECT * FROM generate_series(1, 50)", max_rows=7, batch_size=5) as (
        _,
        batches,
    ):
        rows = [row for batch in batches for row in batch]
    assert rows == [(n,) for n in range(1, 8)]
    assert batches.truncated is True


def test_stream_of_a_runaway_query_fails_before_the_first_row(
    postgres_sources: ShopDatabase,
) -> None:
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught, stream("owner", RUNAWAY, timeout=1):
        pytest.fail("the stream should not open")
    assert caught.value.outcome == "timeout"
    assert time.monotonic() - started < 2.0


def test_stream_error_in_a_later_batch_is_raised_from_the_iteration(
    postgres_sources: ShopDatabase,
) -> None:
    with stream("reader", "SELECT 10 / (5 - n) FROM generate_series(1, 10) AS n", batch_size=2) as (
        _,
        batches,
    ):
        assert next(batches) == [(2,), (3,)]
        with pytest.raises(QueryFailed, match="division by zero"):
            list(batches)


def test_stream_converts_values_json_lacks(postgres_sources: ShopDatabase) -> None:
    with stream(
        "reader", "SELECT int4range(1, 3) AS r, '\\x01ff'::bytea AS b, ARRAY[now()::date] AS d"
    ) as (_, batches):
        rows = [row for batch in batches for row in batch]
    assert rows[0][0] == "[1,3)"
    assert rows[0][1] == "\\x01ff"
    assert isinstance(rows[0][2], list) and isinstance(rows[0][2][0], str)


# --- privileged roles are refused unless the source allows them ---------------------------


@pytest.fixture(scope="module")
def privileged_roles(shop_postgres: ShopDatabase) -> Iterator[dict[str, str]]:
    """URLs of roles that can do what READ ONLY does not stop, each for one reason."""
    token = secrets.token_hex(4)
    group = f"shop_file_readers_{token}"
    grants = {
        "read_files": "GRANT pg_read_server_files TO {role}",
        "write_files": "GRANT pg_write_server_files TO {role}",
        "run_programs": "GRANT pg_execute_server_program TO {role}",
        "bypass_rls": "ALTER ROLE {role} BYPASSRLS",
        # Only through a group role that is in pg_read_server_files.
        "indirect": "GRANT {group} TO {role}",
    }
    roles = {key: f"shop_{key}_{token}" for key in grants}
    password = secrets.token_hex(12)
    with psycopg.connect(shop_postgres.admin_url, autocommit=True) as admin:
        admin.execute(pgsql.SQL("CREATE ROLE {} NOLOGIN").format(pgsql.Identifier(group)))
        admin.execute(pgsql.SQL("GRANT pg_read_server_files TO {}").format(pgsql.Identifier(group)))
        for key, role in roles.items():
            admin.execute(
                pgsql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    pgsql.Identifier(role), pgsql.Literal(password)
                )
            )
            admin.execute(
                pgsql.SQL(grants[key]).format(
                    role=pgsql.Identifier(role), group=pgsql.Identifier(group)
                )
            )
            admin.execute(pgsql.SQL("GRANT SELECT ON orders TO {}").format(pgsql.Identifier(role)))
    try:
        yield {
            key: url_for(
                shop_postgres.admin_url, database=shop_postgres.name, user=role, password=password
            )
            for key, role in roles.items()
        }
    finally:
        with psycopg.connect(shop_postgres.admin_url, autocommit=True) as admin:
            for role in [*roles.values(), group]:
                admin.execute(pgsql.SQL("DROP OWNED BY {}").format(pgsql.Identifier(role)))
                admin.execute(pgsql.SQL("DROP ROLE {}").format(pgsql.Identifier(role)))


def test_a_superuser_source_is_refused_with_what_is_wrong_and_where_to_read(
    postgres_sources: ShopDatabase, settings
) -> None:
    settings.DATA_SOURCES = f"admin={postgres_sources.admin_url}"
    with pytest.raises(QueryFailed) as caught:
        execute("admin", "SELECT count(*) FROM orders")
    assert caught.value.outcome == "error"
    # The user is told in plain words; what is wrong and where to read is for operators.
    assert "'admin' is not set up safely for queries" in caught.value.message
    assert "superuser" not in caught.value.message
    detail = caught.value.detail
    assert "'admin' refuses to run" in detail and "is a superuser" in detail
    assert "Read-only PostgreSQL data source" in detail
    assert "allow_privileged=true" in detail
    with pytest.raises(QueryFailed, match="not set up safely"), stream("admin", "SELECT 1"):
        pytest.fail("the stream should not open")


@pytest.mark.parametrize(
    ("role", "words"),
    [
        ("read_files", "pg_read_server_files"),
        ("write_files", "pg_write_server_files"),
        ("run_programs", "pg_execute_server_program"),
        ("bypass_rls", "BYPASSRLS"),
        ("indirect", "pg_read_server_files"),
    ],
)
def test_a_role_with_server_file_or_program_rights_is_refused(
    postgres_sources: ShopDatabase, privileged_roles: dict[str, str], settings, role, words
) -> None:
    settings.DATA_SOURCES = f"risky={privileged_roles[role]}"
    with pytest.raises(QueryFailed) as caught:
        execute("risky", "SELECT count(*) FROM orders")
    assert words in caught.value.detail
    assert "is a superuser" not in caught.value.detail


def test_the_select_only_role_is_allowed(postgres_sources: ShopDatabase) -> None:
    assert execute("reader", "SELECT count(*) FROM orders").rows == [(10,)]


@pytest.mark.parametrize("role", ["admin", "read_files"])
def test_allow_privileged_lets_a_privileged_role_run(
    postgres_sources: ShopDatabase, privileged_roles: dict[str, str], settings, role
) -> None:
    url = postgres_sources.admin_url if role == "admin" else privileged_roles[role]
    settings.DATA_SOURCES = f"risky={url}?allow_privileged=true"
    assert execute("risky", "SELECT count(*) FROM orders").rows == [(10,)]
    with stream("risky", "SELECT id FROM orders ORDER BY id", max_rows=2) as (_, batches):
        assert [row for batch in batches for row in batch] == [(1,), (2,)]


def test_the_schema_of_a_superuser_source_is_refused_too(
    postgres_sources: ShopDatabase, settings
) -> None:
    from apps.datasources.schema import clear_schema_cache, list_tables

    settings.DATA_SOURCES = f"admin={postgres_sources.admin_url}"
    clear_schema_cache()
    with pytest.raises(QueryFailed, match="not set up safely") as caught:
        list_tables("admin")
    assert "is a superuser" in caught.value.detail


def test_the_privileges_check_adds_no_round_trip(postgres_sources: ShopDatabase) -> None:
    # It rides on the statement that opens the transaction: one simple query, as before.
    with postgres_read_only(postgres_sources.reader_url, timeout=5) as connection:
        assert connection.execute("SELECT current_setting('transaction_read_only')").fetchone() == (
            "on",
        )
