"""The SQL check behind the editor, the validate endpoint, saving and the agent's tools:
unknown tables and columns with a "did you mean", resolved through aliases, CTEs and
subqueries, parse errors with positions, parameter uses; never a false alarm on valid SQL
(every demo artifact and the analytics set, on both engines)."""

from __future__ import annotations

import pytest

from apps.datasources import schema
from apps.datasources.access import Exposure
from apps.datasources.check import check, format_sql, reference_messages
from apps.datasources.guard import SQLRejected, parse_checked
from apps.datasources.sources import get_data_source
from tests.datasources.test_analytics_sql import (  # noqa: F401 (fixtures)
    _cases,
    dataset,
    postgres_marketplace,
    source,
    sqlite_file,
)


def problems(sql: str, source_name: str = "shop", declarations=None) -> list[tuple[str, str]]:
    result = check(sql, get_data_source(source_name), declarations)
    return [(d.code, d.message) for d in result.diagnostics]


def flagged(sql: str, source_name: str = "shop") -> list[str]:
    result = check(sql, get_data_source(source_name))
    return [sql[d.start : d.end] for d in result.diagnostics]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop(request) -> str:
    if request.param == "sqlite":
        request.getfixturevalue("shop_sqlite")
        return "shop"
    request.getfixturevalue("postgres_sources")
    return "reader"


def test_typo_in_a_column_gets_a_suggestion(shop):
    assert problems("SELECT totl FROM orders", shop) == [
        ("unknown_column", "no column `totl` in `orders`; did you mean `total`?")
    ]


def test_position_of_the_unknown_column_is_marked(shop):
    sql = "SELECT id,\n  totl\nFROM orders"
    diagnostic = check(sql, get_data_source(shop)).diagnostics[0]
    assert (diagnostic.line, diagnostic.column) == (2, 3)
    assert sql[diagnostic.start : diagnostic.end] == "totl"


def test_typo_in_a_table_gets_a_suggestion(shop):
    assert problems("SELECT id FROM ordrs", shop) == [
        ("unknown_table", f"no table `ordrs` in {shop}; did you mean `orders`?")
    ]


def test_columns_resolve_through_aliases(shop):
    sql = "SELECT o.totl, c.nme FROM orders o JOIN customers c ON c.id = o.customer_id"
    assert problems(sql, shop) == [
        ("unknown_column", "no column `totl` in `orders`; did you mean `total`?"),
        ("unknown_column", "no column `nme` in `customers`; did you mean `name`?"),
    ]


def test_columns_resolve_through_ctes_and_subqueries(shop):
    assert flagged("WITH x AS (SELECT total AS amount FROM orders) SELECT amout FROM x", shop) == [
        "amout"
    ]
    assert flagged("SELECT a.amont FROM (SELECT total AS amount FROM orders) a", shop) == ["amont"]
    assert flagged("WITH x(a, b) AS (SELECT id, total FROM orders) SELECT a, b FROM x", shop) == []


def test_unqualified_column_of_a_join_names_every_table(shop):
    sql = "SELECT statu FROM orders o JOIN customers c ON c.id = o.customer_id"
    assert problems(sql, shop) == [
        ("unknown_column", "no column `statu` in `orders` or `customers`; did you mean `status`?")
    ]


def test_quoted_names_are_matched(shop):
    assert problems('SELECT "total", "status" FROM "orders"', shop) == []
    assert flagged('SELECT o."totl" FROM "orders" o', shop) == ['"totl"']


def test_valid_sql_is_not_flagged(shop):
    for sql in (
        # Correlated subqueries, output aliases, recursive CTEs, stars, unions.
        "SELECT (SELECT MAX(total) FROM orders i WHERE i.customer_id = c.id) FROM customers c",
        "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE is_vip)",
        "SELECT status, COUNT(*) AS n FROM orders GROUP BY status HAVING n > 1 ORDER BY n",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) "
        "SELECT n FROM t",
        "SELECT x.* FROM (SELECT * FROM orders) x WHERE x.anything = 1",
        "SELECT id FROM orders UNION SELECT id FROM customers ORDER BY id",
        "SELECT 1 AS one",
        "SELECT ID, Total FROM Orders",
        "SELECT id FROM paid_orders",
    ):
        assert problems(sql, shop) == [], sql


def OnlyOrders() -> Exposure:
    """An exposure as the data-source policies give one: orders without its total."""
    return Exposure(restricted=True, tables={"orders": frozenset({"total"})})


def test_what_the_user_may_not_see_is_neither_found_nor_suggested(shop):
    data_source = get_data_source(shop)
    hidden_table = check("SELECT id FROM customers", data_source, exposure=OnlyOrders())
    hidden_column = check("SELECT totl FROM orders", data_source, exposure=OnlyOrders())

    # A hidden table is the guard's refusal, naming it, as when the SQL runs.
    assert not hidden_table.valid
    assert hidden_table.error == "The table `customers` is not available in this data source."
    assert [d.message for d in hidden_column.diagnostics] == ["no column `totl` in `orders`."]
    assert check("SELECT status FROM orders", data_source, exposure=OnlyOrders()).diagnostics == []


def test_parse_error_has_line_and_column(shop):
    result = check("SELECT id\nFROM WHERE", get_data_source(shop))
    assert not result.valid
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "parse_error"
    assert (diagnostic.line, diagnostic.column) == (2, 6)
    assert "line 2, column 6" in result.error
    # Saving says the same as the editor.
    with pytest.raises(SQLRejected) as refused:
        parse_checked("SELECT id\nFROM WHERE", dialect=get_data_source(shop).dialect)
    assert refused.value.message == result.error


def test_guard_rejection_is_the_verdict(shop):
    result = check("DELETE FROM orders", get_data_source(shop))
    assert not result.valid
    assert "DELETE" in result.error
    assert [d.code for d in result.diagnostics] == ["rejected"]


def test_parameters_declared_and_used(shop):
    sql = "SELECT id FROM orders WHERE status = :status AND ordered_at >= :since"
    result = check(sql, get_data_source(shop), [{"name": "status"}, {"name": "old"}])
    assert result.parameters == ["status", "since"]
    assert result.undeclared == ["since"]
    assert result.unused == ["old"]
    marked = [sql[d.start : d.end] for d in result.diagnostics if d.start is not None]
    assert marked == [":since"]


def test_without_declarations_nothing_is_undeclared(shop):
    result = check("SELECT id FROM orders WHERE status = :status", get_data_source(shop))
    assert result.undeclared == [] and result.unused == []
    assert [(u.name, u.line, u.column) for u in result.parameter_uses] == [("status", 1, 38)]


def test_parameter_types_are_guessed_from_their_use(shop):
    sql = (
        "SELECT id FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.ordered_at >= :since AND o.total > :minimum AND o.customer_id = :customer "
        "AND c.is_vip = :vip AND status IN (:status) AND c.signed_up_at < CAST(:before AS DATE) "
        "AND :created_at IS NOT NULL LIMIT :n"
    )
    types = check(sql, get_data_source(shop)).parameter_types
    assert types == {
        "since": "date",
        "minimum": "number",
        "customer": "integer",
        "vip": "boolean",
        "status": "string",
        "before": "date",
        "created_at": "datetime",
        "n": "integer",
    }


def test_reference_messages_read_as_sentences(shop):
    assert reference_messages("SELECT totl FROM orders", get_data_source(shop)) == [
        "Line 1, column 8: no column `totl` in `orders`; did you mean `total`?"
    ]


def test_unreadable_schema_flags_nothing_and_is_not_asked_again_at_once(
    settings, tmp_path, monkeypatch
):
    settings.DATA_SOURCES = f"gone=sqlite:///{tmp_path / 'missing.sqlite3'}"
    reads = []
    original = schema.list_tables
    monkeypatch.setattr(schema, "list_tables", lambda name: reads.append(name) or original(name))

    assert problems("SELECT totl FROM ordrs", "gone") == []
    assert problems("SELECT totl FROM ordrs", "gone") == []
    assert reads == ["gone"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_format_keeps_named_parameters(dialect):
    formatted = format_sql("select id,total from orders where status=:status", dialect)
    assert formatted == "SELECT\n  id,\n  total\nFROM orders\nWHERE\n  status = :status"


def test_format_refuses_unparsable_sql():
    with pytest.raises(SQLRejected, match="could not be parsed"):
        format_sql("SELECT FROM WHERE (", "sqlite")


@pytest.mark.parametrize(("engine", "sql", "params"), _cases())
def test_no_false_alarm_on_demo_and_analytics_sql(source, engine, sql, params):  # noqa: F811
    result = check(sql, get_data_source(source))
    assert result.valid, result.error
    assert result.diagnostics == []
