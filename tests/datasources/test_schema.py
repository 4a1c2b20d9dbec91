from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from apps.datasources.executor import QueryFailed
from apps.datasources.schema import (
    ColumnInfo,
    TableInfo,
    clear_schema_cache,
    describe_table,
    list_tables,
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
