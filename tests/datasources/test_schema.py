from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from apps.datasources import schema as schema_module
from apps.datasources.executor import QueryFailed
from apps.datasources.schema import (
    ColumnInfo,
    ForeignKeyInfo,
    TableInfo,
    clear_schema_cache,
    describe_table,
    list_tables,
    sample_rows,
)
from tests.datasources import sample
from tests.postgres import ShopDatabase


def test_lists_sqlite_tables_and_views_with_columns(shop_sqlite: Path) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    tables = list_tables("shop")
    assert [table.name for table in tables] == ["categories", "customers", "orders", "paid_orders"]
    assert tables[1] == TableInfo(
        "customers",
        [
            ColumnInfo("id", "INTEGER", nullable=False),
            ColumnInfo("name", "TEXT", nullable=False),
            ColumnInfo("email", "TEXT", nullable=True),
            ColumnInfo("country", "TEXT", nullable=False),
            ColumnInfo("signed_up_at", "TEXT", nullable=False),
            ColumnInfo("is_vip", "INTEGER", nullable=False),
        ],
        approx_rows=5,  # counted: the shop has no statistics
    )
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_describe_table_finds_a_table_by_name_in_any_case(shop_sqlite: Path) -> None:
    assert describe_table("shop", "orders").name == "orders"
    assert describe_table("shop", "ORDERS").name == "orders"
    assert [c.name for c in describe_table("shop", "paid_orders").columns][:2] == [
        "id",
        "customer_id",
    ]


def test_describe_table_raises_lookup_error_for_an_unknown_table(shop_sqlite: Path) -> None:
    with pytest.raises(LookupError, match="has no table 'invoices'"):
        describe_table("shop", "invoices")


def test_schema_is_cached_briefly_per_source(shop_sqlite: Path) -> None:
    assert len(list_tables("shop")) == 4
    with sqlite3.connect(shop_sqlite) as connection:
        connection.execute("CREATE TABLE refunds (id INTEGER)")
    assert len(list_tables("shop")) == 4  # served from the cache
    clear_schema_cache()
    assert "refunds" in [table.name for table in list_tables("shop")]


def test_each_source_has_its_own_schema(shop_sqlite: Path, tmp_path: Path, settings) -> None:
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite} other=sqlite:///{other}"
    assert [table.name for table in list_tables("other")] == ["things"]
    assert len(list_tables("shop")) == 4


def test_unknown_or_missing_sources_are_errors(tmp_path: Path, settings) -> None:
    settings.DATA_SOURCES = f"gone=sqlite:///{tmp_path / 'missing.sqlite3'}"
    with pytest.raises(QueryFailed, match="Unknown data source 'nowhere'"):
        list_tables("nowhere")
    with pytest.raises(QueryFailed, match="'gone' is not reachable right now"):
        list_tables("gone")
    assert not (tmp_path / "missing.sqlite3").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["owner", "reader"])
def test_lists_postgres_tables_with_their_types(
    postgres_sources: ShopDatabase, source: str
) -> None:
    tables = {table.name: table for table in list_tables(source)}
    assert sorted(tables) == ["categories", "customers", "orders", "paid_orders"]
    assert tables["customers"].columns == [
        ColumnInfo("id", "integer", nullable=False),
        ColumnInfo("name", "text", nullable=False),
        ColumnInfo("email", "text", nullable=True),
        ColumnInfo("country", "text", nullable=False),
        ColumnInfo("signed_up_at", "date", nullable=False),
        ColumnInfo("is_vip", "boolean", nullable=False),
    ]
    assert [(c.name, c.type) for c in tables["orders"].columns][-2:] == [
        ("ordered_at", "timestamp without time zone"),
        ("total", "numeric"),
    ]


@pytest.mark.postgres
def test_a_role_only_sees_tables_it_may_read(postgres_sources: ShopDatabase) -> None:
    with psycopg.connect(postgres_sources.owner_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE secrets (id integer)")
    try:
        clear_schema_cache()
        assert "secrets" in [table.name for table in list_tables("owner")]
        assert "secrets" not in [table.name for table in list_tables("reader")]
        with pytest.raises(LookupError):
            describe_table("reader", "secrets")
    finally:
        with psycopg.connect(postgres_sources.owner_url, autocommit=True) as connection:
            connection.execute("DROP TABLE secrets")


# --- foreign keys, row counts and sample rows ----------------------------------------------


def test_sqlite_foreign_keys_say_what_joins_to_what(shop_sqlite: Path) -> None:
    tables = {table.name: table for table in list_tables("shop")}
    assert tables["orders"].foreign_keys == [
        ForeignKeyInfo(["customer_id"], "customers", ["id"]),
        ForeignKeyInfo(["category_id"], "categories", ["id"]),
    ]
    assert tables["categories"].foreign_keys == [
        ForeignKeyInfo(["parent_id"], "categories", ["id"])
    ]
    assert tables["customers"].foreign_keys == []
    assert tables["orders"].foreign_key_for("customer_id").referenced_table == "customers"
    assert tables["orders"].foreign_key_for("status") is None


def test_sqlite_composite_and_implicit_keys(tmp_path: Path, settings) -> None:
    path = tmp_path / "keys.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "CREATE TABLE Parents (a INTEGER, b INTEGER, PRIMARY KEY (a, b));"
            "CREATE TABLE kids (id INTEGER PRIMARY KEY, pa INTEGER, pb INTEGER,"
            " FOREIGN KEY (pa, pb) REFERENCES parents);"  # no columns: the primary key
        )
    settings.DATA_SOURCES = f"keys=sqlite:///{path}"
    clear_schema_cache()
    assert describe_table("keys", "kids").foreign_keys == [
        ForeignKeyInfo(["pa", "pb"], "Parents", ["a", "b"])
    ]


def test_sqlite_row_counts_come_from_statistics_when_analysed(shop_sqlite: Path) -> None:
    with sqlite3.connect(shop_sqlite) as connection:
        connection.execute("ANALYZE")
        # Statistics are estimates: they win over a count, which shows they are read.
        connection.execute("UPDATE sqlite_stat1 SET stat = '12345 1' WHERE tbl = 'orders'")
    clear_schema_cache()
    tables = {table.name: table for table in list_tables("shop")}
    assert tables["orders"].approx_rows == 12345
    assert tables["customers"].approx_rows == 5
    assert tables["paid_orders"].is_view and tables["paid_orders"].approx_rows is None


def test_sqlite_counts_without_statistics_stop_at_the_cap(shop_sqlite: Path, monkeypatch) -> None:
    monkeypatch.setattr(schema_module, "COUNT_CAP", 4)
    tables = {table.name: table for table in list_tables("shop")}
    assert tables["categories"].approx_rows == 4  # exactly the cap: still known
    assert tables["customers"].approx_rows is None  # 5 rows: past the cap, unknown
    assert tables["orders"].approx_rows is None


def test_sqlite_counts_stop_when_their_time_is_up(shop_sqlite: Path, monkeypatch) -> None:
    monkeypatch.setattr(schema_module, "COUNT_BUDGET_SECONDS", 0.0)
    assert all(table.approx_rows is None for table in list_tables("shop"))


def test_sample_rows_are_the_first_rows_read_only(shop_sqlite: Path) -> None:
    before = sample.sqlite_fingerprint(shop_sqlite)
    rows = sample_rows("shop", describe_table("shop", "customers"))
    assert rows.error == ""
    assert rows.columns == ["id", "name", "email", "country", "signed_up_at", "is_vip"]
    assert rows.rows == [(c[0], c[1], c[2], c[3], c[4], int(c[5])) for c in sample.CUSTOMERS]
    assert len(sample_rows("shop", describe_table("shop", "orders"), limit=2).rows) == 2
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_sample_rows_of_an_oddly_named_table(tmp_path: Path, settings) -> None:
    path = tmp_path / "odd.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute('CREATE TABLE "order ""lines""" (id INTEGER)')
        connection.execute('INSERT INTO "order ""lines""" VALUES (7)')
    settings.DATA_SOURCES = f"odd=sqlite:///{path}"
    clear_schema_cache()
    table = describe_table("odd", 'order "lines"')
    assert table.approx_rows == 1
    assert sample_rows("odd", table).rows == [(7,)]


def test_a_failing_sample_says_why(shop_sqlite: Path, settings) -> None:
    table = describe_table("shop", "orders")
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite.parent / 'gone.sqlite3'}"
    clear_schema_cache()
    rows = sample_rows("shop", table)
    # A missing file is the operator's set-up: users read plain words and a reference.
    assert rows.rows == [] and "not reachable" in rows.error


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["owner", "reader"])
def test_postgres_foreign_keys_counts_and_samples(
    postgres_sources: ShopDatabase, source: str
) -> None:
    tables = {table.name: table for table in list_tables(source)}
    assert tables["orders"].foreign_keys == [
        ForeignKeyInfo(["category_id"], "categories", ["id"]),
        ForeignKeyInfo(["customer_id"], "customers", ["id"]),
    ]
    assert tables["categories"].foreign_keys == [
        ForeignKeyInfo(["parent_id"], "categories", ["id"])
    ]
    # Counted (no statistics yet, or estimated by autovacuum): small tables are exact.
    assert tables["orders"].approx_rows == 10
    assert tables["customers"].approx_rows == 5
    assert tables["paid_orders"].is_view and tables["paid_orders"].approx_rows is None
    rows = sample_rows(source, tables["orders"], limit=3)
    assert rows.columns[:2] == ["id", "customer_id"]
    assert len(rows.rows) == 3 and rows.error == ""


@pytest.mark.postgres
def test_postgres_row_counts_come_from_reltuples_after_analyze(
    postgres_sources: ShopDatabase,
) -> None:
    with psycopg.connect(postgres_sources.admin_url, autocommit=True) as connection:
        connection.execute("ANALYZE orders")
        # Prove the estimate is read rather than a count: set one that no count would give.
        connection.execute(
            "UPDATE pg_class SET reltuples = 123456 WHERE oid = 'public.orders'::regclass"
        )
    try:
        clear_schema_cache()
        assert describe_table("reader", "orders").approx_rows == 123456
    finally:
        with psycopg.connect(postgres_sources.admin_url, autocommit=True) as connection:
            connection.execute("ANALYZE orders")


@pytest.mark.postgres
def test_postgres_keys_into_tables_a_role_cannot_read_are_left_out(
    postgres_sources: ShopDatabase,
) -> None:
    with psycopg.connect(postgres_sources.owner_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE vaults (id integer PRIMARY KEY)")
        connection.execute("CREATE TABLE notes (id integer, vault_id integer REFERENCES vaults)")
        reader = urlsplit(postgres_sources.reader_url).username
        connection.execute(f'GRANT SELECT ON notes TO "{reader}"')
    try:
        clear_schema_cache()
        assert describe_table("owner", "notes").foreign_keys == [
            ForeignKeyInfo(["vault_id"], "vaults", ["id"])
        ]
        assert describe_table("reader", "notes").foreign_keys == []
    finally:
        with psycopg.connect(postgres_sources.owner_url, autocommit=True) as connection:
            connection.execute("DROP TABLE notes, vaults")
