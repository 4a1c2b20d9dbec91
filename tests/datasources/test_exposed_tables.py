"""Exposed tables: the guard refuses SQL that reads a table the source does not expose, or a
hidden column, by every route the dialect allows, on SQLite and PostgreSQL.

The shop exposes `orders` and `customers` without `customers.email`; `categories` and the
view `paid_orders` are hidden.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.datasources.access import EVERYTHING, Exposure, exposure_of
from apps.datasources.executor import QueryFailed, execute, stream
from apps.datasources.guard import SQLRejected, parse_checked
from apps.datasources.models import DataSourcePolicy, ExposedTable

HIDDEN_TABLE = "The table `categories` is not available in this data source."
HIDDEN_EMAIL = "The column `email` of `customers` is not available in this data source."

# SQL reaching the hidden table `categories`, by route; each refused naming it.
HIDDEN_TABLE_ROUTES = {
    "plain": "SELECT * FROM categories",
    "upper case": "SELECT * FROM CATEGORIES",
    "quoted": 'SELECT * FROM "categories"',
    "join": "SELECT o.id FROM orders o JOIN categories c ON c.id = o.category_id",
    "comma join": "SELECT o.id FROM orders o, categories c WHERE c.id = o.category_id",
    "subquery in where": "SELECT id FROM orders WHERE category_id IN (SELECT id FROM categories)",
    "scalar subquery": "SELECT id, (SELECT max(name) FROM categories) AS n FROM orders",
    "exists": "SELECT id FROM orders WHERE EXISTS (SELECT 1 FROM categories)",
    "derived table": "SELECT * FROM (SELECT id, name FROM categories) AS c",
    "union": "SELECT id FROM orders UNION SELECT id FROM categories",
    "union all in a cte": (
        "WITH x AS (SELECT id FROM orders UNION ALL SELECT id FROM categories) SELECT * FROM x"
    ),
    "cte body": "WITH c AS (SELECT * FROM categories) SELECT * FROM c",
    "cte after one that shadows another name": (
        "WITH orders AS (SELECT 1 AS id) SELECT * FROM orders, categories"
    ),
    "cte defined later in the list": (
        "WITH a AS (SELECT * FROM categories), categories AS (SELECT 1 AS id) SELECT * FROM a"
    ),
    "nested cte": (
        "WITH a AS (WITH b AS (SELECT id FROM categories) SELECT * FROM b) SELECT * FROM a"
    ),
    "intersect": "SELECT id FROM orders INTERSECT SELECT id FROM categories",
}
SQLITE_ROUTES = {
    "main schema": "SELECT * FROM main.categories",
    "quoted schema and table": 'SELECT * FROM "main"."Categories"',
    "brackets": "SELECT * FROM [categories]",
    "backticks": "SELECT * FROM `CATEGORIES`",
    "string literal as a table": "SELECT * FROM 'categories'",
}
POSTGRES_ROUTES = {
    "public schema": "SELECT * FROM public.categories",
    "quoted schema and table": 'SELECT * FROM "public"."categories"',
    "catalog, schema and table": "SELECT * FROM current_db.public.categories",
    "lateral": "SELECT o.id FROM orders o CROSS JOIN LATERAL (SELECT name FROM categories) c",
    "cte named like it, read in its own body": (
        "WITH categories AS (SELECT * FROM categories) SELECT * FROM categories"
    ),
    "cte shadowed but qualified": (
        "WITH categories AS (SELECT 1 AS id) SELECT * FROM public.categories"
    ),
}
SYSTEM_CATALOGS = {
    "sqlite": {
        "sqlite_master": "SELECT name FROM sqlite_master",
        "sqlite_schema": "SELECT name FROM sqlite_schema",
        "sqlite_temp_master": "SELECT name FROM sqlite_temp_master",
        "main.sqlite_master": "SELECT name FROM main.sqlite_master",
    },
    "postgres": {
        "pg_class": "SELECT relname FROM pg_class",
        "pg_catalog.pg_class": "SELECT relname FROM pg_catalog.pg_class",
        "pg_tables": "SELECT tablename FROM pg_tables",
        "information_schema.tables": "SELECT table_name FROM information_schema.tables",
        "information_schema.columns": "SELECT column_name FROM information_schema.columns",
    },
}
HIDDEN_COLUMN_ROUTES = {
    "plain": ("SELECT email FROM customers", HIDDEN_EMAIL),
    "qualified": ("SELECT c.email FROM customers c", HIDDEN_EMAIL),
    "in where": ("SELECT id FROM customers WHERE email LIKE '%@example.com'", HIDDEN_EMAIL),
    "in a join condition": (
        "SELECT o.id FROM orders o JOIN customers c ON c.email IS NOT NULL",
        HIDDEN_EMAIL,
    ),
    "in a subquery": ("SELECT * FROM (SELECT email FROM customers) AS x", HIDDEN_EMAIL),
    "in a cte": ("WITH x AS (SELECT email AS e FROM customers) SELECT e FROM x", HIDDEN_EMAIL),
    "correlated": (
        "SELECT id FROM orders o WHERE EXISTS "
        "(SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c.email > '')",
        HIDDEN_EMAIL,
    ),
    "group by": ("SELECT count(*) FROM customers GROUP BY email", HIDDEN_EMAIL),
    "using": ("SELECT a.id FROM customers a JOIN customers b USING (email)", HIDDEN_EMAIL),
    "star": ("SELECT * FROM customers", "so `*` cannot read it"),
    "table star": ("SELECT o.id, c.* FROM orders o JOIN customers c ON c.id = 1", "`*`"),
    "star in a cte": ("WITH x AS (SELECT * FROM customers) SELECT name FROM x", "`*`"),
    "natural join": ("SELECT o.id FROM orders o NATURAL JOIN customers c", "NATURAL JOIN"),
}
# SQL that reads only what is exposed, on both engines: it runs.
ALLOWED = {
    "exposed tables": (
        "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id"
    ),
    "a cte named like the hidden table": (
        "WITH categories AS (SELECT DISTINCT category_id AS id FROM orders) "
        "SELECT count(*) FROM categories"
    ),
    "count star": "SELECT count(*) FROM customers",
    "star of an exposed table without hidden columns": "SELECT * FROM orders",
    "exists with star": (
        "SELECT id FROM orders o WHERE EXISTS (SELECT * FROM customers c WHERE c.id = o.id)"
    ),
    "an alias named like the hidden column": ("SELECT name AS email FROM customers ORDER BY email"),
    "a cte column named like the hidden column": (
        "WITH x AS (SELECT name AS email FROM customers) SELECT email FROM x"
    ),
}


@pytest.fixture
def restricted(db) -> None:
    """Both test sources (`shop`, and `owner` on PostgreSQL) expose the same tables."""
    for source in ("shop", "owner"):
        policy = DataSourcePolicy.objects.create(source=source)
        ExposedTable.objects.create(policy=policy, name="orders")
        ExposedTable.objects.create(policy=policy, name="customers", hidden_columns=["email"])


def refusal(source: str, sql: str) -> str:
    with pytest.raises(QueryFailed) as caught:
        execute(source, sql)
    assert caught.value.outcome == "rejected"
    return caught.value.message


# --- SQLite ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [*HIDDEN_TABLE_ROUTES.values(), *SQLITE_ROUTES.values()],
    ids=[*HIDDEN_TABLE_ROUTES, *SQLITE_ROUTES],
)
def test_sqlite_refuses_the_hidden_table_by_every_route(shop_sqlite, restricted, sql):
    assert refusal("shop", sql) == HIDDEN_TABLE


def test_sqlite_refuses_a_view_that_is_not_exposed(shop_sqlite, restricted):
    assert "`paid_orders` is not available" in refusal("shop", "SELECT * FROM paid_orders")


@pytest.mark.parametrize("name, sql", list(SYSTEM_CATALOGS["sqlite"].items()))
def test_sqlite_refuses_system_catalogs(shop_sqlite, restricted, name, sql):
    assert (
        refusal("shop", sql) == f"The table `{name.removeprefix('main.')}` is not available "
        "in this data source."
    )


def test_sqlite_refuses_pragma_functions_even_when_the_source_allows_them(
    tmp_path, settings, restricted
):
    from tests.datasources import sample

    path = sample.build_sqlite(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"shop=sqlite:///{path}?allow_functions=pragma_table_info"
    message = refusal("shop", "SELECT name FROM pragma_table_info('categories')")
    assert "pragma_table_info() reads the database's schema" in message


@pytest.mark.parametrize(
    "sql, message", list(HIDDEN_COLUMN_ROUTES.values()), ids=list(HIDDEN_COLUMN_ROUTES)
)
def test_sqlite_refuses_hidden_columns(shop_sqlite, restricted, sql, message):
    assert message in refusal("shop", sql)


def test_a_refused_star_names_the_columns_to_list_instead(shop_sqlite, restricted):
    message = refusal("shop", "SELECT * FROM customers")
    assert message.endswith(
        "list the columns you need instead: id, name, country, signed_up_at, is_vip."
    )
    assert "email" not in message


@pytest.mark.parametrize("sql", list(ALLOWED.values()), ids=list(ALLOWED))
def test_sqlite_runs_sql_that_reads_only_what_is_exposed(shop_sqlite, restricted, sql):
    assert execute("shop", sql).row_count > 0


def test_sqlite_cte_named_like_the_hidden_table_cannot_read_it_in_its_own_body(
    shop_sqlite, restricted
):
    # SQLite reads the name inside its own body as the CTE itself (a circular reference),
    # never as the table: the guard lets it through and SQLite refuses it.
    with pytest.raises(QueryFailed) as caught:
        execute("shop", "WITH categories AS (SELECT * FROM categories) SELECT * FROM categories")
    assert "circular reference" in caught.value.message


def test_exports_are_refused_too(shop_sqlite, restricted):
    with pytest.raises(QueryFailed) as caught, stream("shop", "SELECT * FROM categories"):
        pytest.fail("the export should not open")
    assert caught.value.message == HIDDEN_TABLE


def test_a_source_without_exposed_tables_reads_everything(shop_sqlite, db):
    assert execute("shop", "SELECT name FROM sqlite_master").row_count > 0
    assert execute("shop", "SELECT email FROM customers").row_count > 0


def test_exposure_is_cached_and_forgotten_when_operators_change_it(
    shop_sqlite, restricted, django_assert_num_queries
):
    execute("shop", "SELECT id FROM orders")
    with django_assert_num_queries(0):
        execute("shop", "SELECT id FROM orders")
    policy = DataSourcePolicy.objects.get(source="shop")
    ExposedTable.objects.create(policy=policy, name="categories")
    assert execute("shop", "SELECT name FROM categories").row_count > 0
    ExposedTable.objects.filter(policy=policy, name="customers").get().delete()
    assert "`customers` is not available" in refusal("shop", "SELECT name FROM customers")
    policy.delete()
    assert exposure_of("shop") is EVERYTHING


# --- PostgreSQL ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [*HIDDEN_TABLE_ROUTES.values(), *POSTGRES_ROUTES.values()],
    ids=[*HIDDEN_TABLE_ROUTES, *POSTGRES_ROUTES],
)
def test_postgres_refuses_the_hidden_table_by_every_route(postgres_sources, restricted, sql):
    assert refusal("owner", sql) == HIDDEN_TABLE


@pytest.mark.postgres
def test_postgres_refuses_a_view_that_is_not_exposed(postgres_sources, restricted):
    assert "`paid_orders` is not available" in refusal("owner", "SELECT * FROM paid_orders")


@pytest.mark.postgres
@pytest.mark.parametrize("name, sql", list(SYSTEM_CATALOGS["postgres"].items()))
def test_postgres_refuses_system_catalogs(postgres_sources, restricted, name, sql):
    assert refusal("owner", sql) == f"The table `{name}` is not available in this data source."


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql, message",
    [
        *HIDDEN_COLUMN_ROUTES.values(),
        ("SELECT c FROM customers c", "stands for whole rows of `customers`"),
        ("SELECT row_to_json(c) FROM customers c", "stands for whole rows"),
        ("SELECT to_json(c.*) FROM customers c", "`*`"),
        ("SELECT (c).email FROM customers c", "stands for whole rows"),
        ("SELECT public.customers.email FROM customers", HIDDEN_EMAIL),
        (
            "SELECT * FROM json_populate_record(null::categories, '{}')",
            "The type `categories` is not available in this data source",
        ),
    ],
    ids=[
        *HIDDEN_COLUMN_ROUTES,
        "whole row",
        "row_to_json",
        "to_json star",
        "field",
        "schema",
        "row type of a hidden table",
    ],
)
def test_postgres_refuses_hidden_columns(postgres_sources, restricted, sql, message):
    assert message in refusal("owner", sql)


@pytest.mark.postgres
@pytest.mark.parametrize("sql", list(ALLOWED.values()), ids=list(ALLOWED))
def test_postgres_runs_sql_that_reads_only_what_is_exposed(postgres_sources, restricted, sql):
    assert execute("owner", sql).row_count > 0


@pytest.mark.postgres
def test_postgres_recursive_cte_named_like_the_hidden_table_runs(postgres_sources, restricted):
    sql = (
        "WITH RECURSIVE categories(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM categories "
        "WHERE n < 3) SELECT n FROM categories"
    )
    assert [row[0] for row in execute("owner", sql).rows] == [1, 2, 3]


# --- names, generated -----------------------------------------------------------------


def _spellings(name: str) -> st.SearchStrategy[str]:
    cased = st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(name, upper, strict=True))
    )
    return cased


QUOTES = {
    "sqlite": ["{}", '"{}"', "[{}]", "`{}`", "'{}'"],
    "postgres": ["{}"],  # quoted names keep their case on PostgreSQL: another table
}
SCHEMAS = {"sqlite": ["", "main."], "postgres": ["", "public.", '"public".']}
EXPOSURE = Exposure(
    restricted=True, tables={"orders": frozenset(), "customers": frozenset({"email"})}
)


@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dialect=st.sampled_from(["sqlite", "postgres"]),
    spelling=_spellings("categories"),
    data=st.data(),
)
def test_every_spelling_of_a_hidden_table_is_refused(dialect, spelling, data):
    quote = data.draw(st.sampled_from(QUOTES[dialect]))
    schema = data.draw(st.sampled_from(SCHEMAS[dialect]))
    shape = data.draw(
        st.sampled_from(
            [
                "SELECT * FROM {t}",
                "SELECT id FROM orders WHERE id IN (SELECT id FROM {t})",
                "WITH x AS (SELECT id FROM {t}) SELECT * FROM x",
                "SELECT id FROM orders UNION SELECT id FROM {t}",
                "SELECT 1 FROM orders JOIN {t} AS c ON c.id = orders.id",
            ]
        )
    )
    sql = shape.format(t=schema + quote.format(spelling))
    with pytest.raises(SQLRejected) as caught:
        parse_checked(sql, dialect=dialect, exposure=EXPOSURE)
    assert caught.value.message == HIDDEN_TABLE


@hypothesis_settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dialect=st.sampled_from(["sqlite", "postgres"]), spelling=_spellings("email"))
def test_every_spelling_of_a_hidden_column_is_refused(dialect, spelling):
    for sql in (
        f"SELECT {spelling} FROM customers",
        f"SELECT c.{spelling} FROM Customers AS c",
        f"SELECT id FROM customers WHERE {spelling} IS NULL",
    ):
        with pytest.raises(SQLRejected) as caught:
            parse_checked(sql, dialect=dialect, exposure=EXPOSURE)
        assert caught.value.message == HIDDEN_EMAIL


def test_an_exposed_view_runs_though_its_tables_are_not_all_exposed(shop_sqlite, db):
    policy = DataSourcePolicy.objects.create(source="shop")
    ExposedTable.objects.create(policy=policy, name="paid_orders")
    assert execute("shop", "SELECT id, total FROM paid_orders").row_count > 0
    assert "`orders` is not available" in refusal("shop", "SELECT id FROM orders")


IDENTIFIERS = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)


@hypothesis_settings(max_examples=150)
@given(dialect=st.sampled_from(["sqlite", "postgres"]), name=IDENTIFIERS)
def test_any_table_that_is_not_exposed_is_refused_by_name_and_a_cte_of_its_name_is_not(
    dialect, name
):
    from sqlglot.errors import SqlglotError

    try:  # names the dialect reads as keywords are not table names to begin with
        parse_checked(f"SELECT 1 AS x FROM orders AS {name}", dialect=dialect)
        parse_checked(f'SELECT * FROM "{name}"', dialect=dialect)
    except (SQLRejected, SqlglotError):
        return
    if name in EXPOSURE.tables:
        return
    with pytest.raises(SQLRejected) as caught:
        parse_checked(f'SELECT * FROM "{name}"', dialect=dialect, exposure=EXPOSURE)
    assert caught.value.message == f"The table `{name}` is not available in this data source."
    shadowed = f'WITH "{name}" AS (SELECT id FROM orders) SELECT * FROM "{name}"'
    assert parse_checked(shadowed, dialect=dialect, exposure=EXPOSURE).parameters == ()
