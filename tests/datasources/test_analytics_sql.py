"""The function allow-list must not get in an analyst's way: every demo artifact and a broad
set of analytics SQL (joins, CTEs, window functions, date arithmetic, JSON, strings,
statistics) runs through the executor, guard included, on the demo marketplace in SQLite
and in PostgreSQL (through a role that may only SELECT)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql as pgsql

from apps.datasources import demo
from apps.datasources.executor import execute
from apps.llm_artifact.parameters import resolve_values
from apps.llm_chat.demo import ARTIFACTS
from tests.postgres import ShopDatabase, shop_database

AS_OF = dt.date(2025, 11, 26)
SCALE = 0.01
PARAMS = {"since": "2025-01-01", "min_orders": 1}

# name: SQL for both engines, or {"sqlite": ..., "postgres": ...} where they differ.
ANALYTICS: dict[str, str | dict[str, str]] = {
    "three_way_join": (
        "SELECT s.country, COUNT(DISTINCT o.id) AS orders, SUM(oi.quantity * oi.unit_price) "
        "AS revenue FROM orders o JOIN order_items oi ON oi.order_id = o.id "
        "JOIN products p ON p.id = oi.product_id JOIN sellers s ON s.id = p.seller_id "
        "GROUP BY s.country ORDER BY revenue DESC"
    ),
    "left_join_anti": (
        "SELECT COUNT(*) AS never_reviewed FROM products p "
        "LEFT JOIN reviews r ON r.product_id = p.id WHERE r.id IS NULL"
    ),
    "cte_chain": (
        "WITH kept AS (SELECT * FROM orders WHERE status NOT IN ('cancelled', 'returned')), "
        "per_customer AS (SELECT customer_id, COUNT(*) AS n, SUM(total) AS spent FROM kept "
        "GROUP BY customer_id) SELECT n, COUNT(*) AS customers, AVG(spent) AS avg_spent "
        "FROM per_customer GROUP BY n HAVING COUNT(*) >= :min_orders ORDER BY n"
    ),
    "recursive_category_tree": (
        "WITH RECURSIVE tree(id, name, depth, path) AS ("
        " SELECT id, name, 0, name FROM categories WHERE parent_id IS NULL"
        " UNION ALL SELECT c.id, c.name, t.depth + 1, t.path || ' > ' || c.name"
        " FROM categories c JOIN tree t ON c.parent_id = t.id)"
        " SELECT depth, COUNT(*) AS categories, MAX(path) AS example FROM tree GROUP BY depth"
    ),
    "window_ranks_and_running_totals": (
        "SELECT id, customer_id, total, "
        "ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS nth, "
        "RANK() OVER (ORDER BY total DESC) AS rank_by_total, "
        "DENSE_RANK() OVER (ORDER BY status) AS status_rank, "
        "NTILE(4) OVER (ORDER BY total) AS quartile, "
        "PERCENT_RANK() OVER (ORDER BY total) AS pct, CUME_DIST() OVER (ORDER BY total) AS cd, "
        "SUM(total) OVER (PARTITION BY customer_id ORDER BY ordered_at, id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running, "
        "LAG(total) OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS previous, "
        "LEAD(total, 1, 0) OVER (ORDER BY ordered_at, id) AS following, "
        "FIRST_VALUE(total) OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS first, "
        "LAST_VALUE(total) OVER (PARTITION BY customer_id ORDER BY ordered_at, id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last, "
        "NTH_VALUE(total, 2) OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS second "
        "FROM orders ORDER BY id LIMIT 200"
    ),
    "moving_average": (
        "WITH daily AS (SELECT CAST(ordered_at AS DATE) AS day, SUM(total) AS revenue "
        "FROM orders GROUP BY CAST(ordered_at AS DATE)) SELECT day, revenue, "
        "AVG(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg_7d "
        "FROM daily ORDER BY day"
    ),
    "set_operations": (
        "SELECT customer_id FROM orders WHERE status = 'paid' "
        "INTERSECT SELECT customer_id FROM reviews "
        "UNION SELECT id FROM customers WHERE country = 'DE' "
        "EXCEPT SELECT customer_id FROM orders WHERE status = 'returned'"
    ),
    "subqueries": (
        "SELECT c.name, (SELECT MAX(o.total) FROM orders o WHERE o.customer_id = c.id) AS best "
        "FROM customers c WHERE EXISTS (SELECT 1 FROM reviews r WHERE r.customer_id = c.id) "
        "AND c.id IN (SELECT customer_id FROM orders WHERE total > 50) ORDER BY c.name LIMIT 20"
    ),
    "conditional_aggregates": (
        "SELECT status, COUNT(*) AS orders, "
        "SUM(CASE WHEN total >= 100 THEN 1 ELSE 0 END) AS big, "
        "COUNT(*) FILTER (WHERE total < 20) AS small, "
        "COALESCE(NULLIF(MIN(total), 0), -1) AS smallest, COUNT(DISTINCT customer_id) AS buyers "
        "FROM orders WHERE ordered_at >= :since GROUP BY status ORDER BY orders DESC"
    ),
    "strings": (
        "SELECT UPPER(name) AS up, LOWER(city) AS low, LENGTH(name) AS len, "
        "SUBSTR(email, 1, 3) AS start, REPLACE(email, '@', ' at ') AS spoken, "
        "TRIM('  ' || city || '  ') AS trimmed, name || ' (' || country || ')' AS label "
        "FROM customers WHERE name LIKE 'A%' OR city LIKE '%n' ORDER BY name LIMIT 20"
    ),
    "casts_and_rounding": (
        "SELECT CAST(total AS INTEGER) AS whole, ROUND(total, 1) AS tenth, ABS(total - 100) AS "
        "distance, CAST(id AS TEXT) AS label, total * 1.2 AS gross FROM orders LIMIT 20"
    ),
    "paging": "SELECT id, total FROM orders ORDER BY total DESC, id LIMIT 10 OFFSET 5",
    "review_distribution": (
        "SELECT rating, COUNT(*) AS reviews, ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) "
        "AS share FROM reviews GROUP BY rating ORDER BY rating"
    ),
    "date_arithmetic": {
        "sqlite": (
            "SELECT id, date(ordered_at, '-7 days') AS week_before, "
            "strftime('%Y-%m', ordered_at) AS month, strftime('%w', ordered_at) AS weekday, "
            "julianday(:since) - julianday(ordered_at) AS days_ago, "
            "datetime(ordered_at, '+1 hour') AS later, unixepoch(ordered_at) AS epoch "
            "FROM orders WHERE ordered_at >= date(:since, '-30 days') LIMIT 50"
        ),
        "postgres": (
            "SELECT id, ordered_at - interval '7 days' AS week_before, "
            "date_trunc('month', ordered_at) AS month, extract(dow FROM ordered_at) AS weekday, "
            "CAST(:since AS date) - CAST(ordered_at AS date) AS days_ago, "
            "age(ordered_at, CAST(:since AS timestamp)) AS age, "
            "to_char(ordered_at, 'YYYY-MM') AS label, date_part('year', ordered_at) AS year, "
            "make_date(2025, 1, 1) AS new_year, extract(epoch FROM ordered_at) AS epoch "
            "FROM orders WHERE ordered_at >= CAST(:since AS date) - 30 LIMIT 50"
        ),
    },
    "monthly_revenue": {
        "sqlite": (
            "SELECT strftime('%Y-%m', ordered_at) AS month, SUM(total) AS revenue FROM orders "
            "GROUP BY 1 ORDER BY 1"
        ),
        "postgres": (
            "SELECT date_trunc('month', ordered_at)::date AS month, SUM(total) AS revenue "
            "FROM orders GROUP BY 1 ORDER BY 1"
        ),
    },
    "json": {
        "sqlite": (
            "SELECT json_object('id', id, 'total', total) AS doc, "
            "json_extract(json_object('status', status), '$.status') AS status, "
            "json_array(id, status) AS pair FROM orders LIMIT 5"
        ),
        "postgres": (
            "SELECT json_build_object('id', id, 'total', total) AS doc, "
            "jsonb_build_object('status', status) ->> 'status' AS status, "
            "to_jsonb(o) -> 'total' AS total, json_build_array(id, status) AS pair, "
            "jsonb_typeof(to_jsonb(total)) AS kind FROM orders o LIMIT 5"
        ),
    },
    "json_aggregates": {
        "sqlite": (
            "SELECT customer_id, json_group_array(id) AS ids, "
            "json_group_object(CAST(id AS TEXT), status) AS statuses FROM orders "
            "GROUP BY customer_id LIMIT 5"
        ),
        "postgres": (
            "SELECT customer_id, jsonb_agg(id ORDER BY id) AS ids, "
            "json_object_agg(id, status) AS statuses, "
            "jsonb_array_length(jsonb_agg(id)) AS n FROM orders GROUP BY customer_id LIMIT 5"
        ),
    },
    "statistics": {
        "sqlite": (
            "SELECT COUNT(*) AS n, AVG(total) AS mean, MIN(total), MAX(total), TOTAL(total), "
            "AVG(total * total) - AVG(total) * AVG(total) AS variance, "
            "sqrt(AVG(total * total) - AVG(total) * AVG(total)) AS stddev FROM orders"
        ),
        "postgres": (
            "SELECT COUNT(*) AS n, AVG(total) AS mean, stddev(total) AS sd, "
            "stddev_pop(total), variance(total), var_samp(total), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY total) AS median, "
            "percentile_disc(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY total) AS quartiles, "
            "mode() WITHIN GROUP (ORDER BY status) AS common_status, "
            "corr(total, customer_id), regr_slope(total, customer_id), "
            "covar_samp(total, customer_id) FROM orders"
        ),
    },
    "string_functions": {
        "sqlite": (
            "SELECT instr(email, '@') AS at, printf('%05d', id) AS code, "
            "group_concat(DISTINCT country) AS countries, hex(id) AS h, "
            "iif(LENGTH(name) > 10, 'long', 'short') AS size, ifnull(NULL, city) AS c, "
            "substr(name, -3) AS tail, LTRIM(RTRIM(city)) FROM customers GROUP BY id LIMIT 5"
        ),
        "postgres": (
            "SELECT strpos(email, '@') AS at, lpad(id::text, 5, '0') AS code, "
            "split_part(email, '@', 2) AS domain, initcap(city) AS city, "
            "regexp_replace(name, '[aeiou]', '', 'g') AS consonants, left(name, 3), "
            "right(name, 3), concat_ws(', ', city, country) AS place, "
            "string_agg(country, ',') OVER () AS countries, md5(email) AS digest, "
            "format('%s-%s', country, id) AS code2, position('@' IN email) AS at2 "
            "FROM customers LIMIT 5"
        ),
    },
    "math": {
        "sqlite": (
            "SELECT max(total, 100) AS at_least, min(total, 10) AS at_most, total % 7 AS rem, "
            "round(sqrt(total), 2) AS root, power(2, 3) AS eight, floor(total), ceil(total), "
            "ln(total + 1), log10(total + 1), sign(total - 50), pi() FROM orders LIMIT 5"
        ),
        "postgres": (
            "SELECT greatest(total, 100) AS at_least, least(total, 10) AS at_most, "
            "mod(id, 7) AS rem, round(sqrt(total), 2) AS root, power(2, 3) AS eight, "
            "floor(total), ceil(total), ln(total + 1), log(total + 1), exp(1), "
            "sign(total - 50), trunc(total), width_bucket(total, 0, 1000, 10), pi(), "
            "random() < 2 AS random_ok FROM orders LIMIT 5"
        ),
    },
    "top_per_group_and_series": {
        "postgres": (
            "SELECT DISTINCT ON (c.country) c.country, top.total, top.id, "
            "array_agg(o.id) OVER (PARTITION BY c.country) AS ids, g.n "
            "FROM customers c CROSS JOIN LATERAL (SELECT id, total FROM orders "
            "WHERE customer_id = c.id ORDER BY total DESC LIMIT 1) AS top "
            "JOIN orders o ON o.customer_id = c.id "
            "CROSS JOIN generate_series(1, 2) AS g(n) "
            "ORDER BY c.country, top.total DESC"
        ),
        "sqlite": (
            "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series "
            "WHERE n < 2) SELECT c.country, MAX(o.total), series.n FROM customers c "
            "JOIN orders o ON o.customer_id = c.id CROSS JOIN series GROUP BY c.country, series.n"
        ),
    },
    "arrays_and_current_time": {
        "postgres": (
            "SELECT unnest(ARRAY['paid', 'shipped']) AS status, "
            "array_length(ARRAY[1, 2, 3], 1) AS len, cardinality(ARRAY[1, 2]) AS n, "
            "array_to_string(ARRAY['a', 'b'], '-') AS joined, "
            "string_to_array('a,b', ',') AS parts, now() >= CURRENT_DATE AS today, "
            "CURRENT_TIMESTAMP > '2000-01-01' AS recent, pg_typeof(1) AS t"
        ),
        "sqlite": (
            'SELECT json_array_length(\'["paid", "shipped"]\') AS n, typeof(1) AS t, '
            "CURRENT_DATE >= '2000-01-01' AS today, CURRENT_TIMESTAMP > '2000' AS recent"
        ),
    },
}


def _cases() -> list:
    cases = []
    for name, sql in ANALYTICS.items():
        for engine in ("sqlite", "postgres"):
            text = sql if isinstance(sql, str) else sql.get(engine)
            if text:
                cases.append(pytest.param(engine, text, PARAMS, id=f"{engine}-{name}"))
    for key, artifact in ARTIFACTS.items():
        values = resolve_values(artifact.params, {}, today=AS_OF)
        for engine in ("sqlite", "postgres"):
            cases.append(pytest.param(engine, artifact.sql, values, id=f"{engine}-demo-{key}"))
    return [
        pytest.param(*case.values, id=case.id, marks=[pytest.mark.postgres])
        if case.values[0] == "postgres"
        else case
        for case in cases
    ]


@pytest.fixture(scope="module")
def dataset() -> demo.Dataset:
    return demo.build_dataset(SCALE, today=AS_OF)


@pytest.fixture(scope="module")
def sqlite_file(dataset: demo.Dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("analytics") / "marketplace.sqlite3"
    demo.write_sqlite(dataset, path)
    return path


@pytest.fixture(scope="module")
def postgres_marketplace(dataset: demo.Dataset, postgres_url: str) -> Iterator[ShopDatabase]:
    """The demo marketplace in PostgreSQL, readable by a role that may only SELECT."""
    with shop_database(postgres_url, lambda connection: None) as database:
        demo.write_postgresql(dataset, database.owner_url)
        reader = urlsplit(database.reader_url).username
        with psycopg.connect(database.owner_url, autocommit=True) as owner:
            owner.execute(
                pgsql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                    pgsql.Identifier(reader)
                )
            )
        yield database


@pytest.fixture
def source(request, settings, sqlite_file: Path) -> str:
    engine = request.node.callspec.params["engine"]
    if engine == "sqlite":
        settings.DATA_SOURCES = f"lite=sqlite:///{sqlite_file}"
        return "lite"
    database = request.getfixturevalue("postgres_marketplace")
    settings.DATA_SOURCES = f"pg={database.reader_url}"
    return "pg"


@pytest.mark.parametrize(("engine", "sql", "params"), _cases())
def test_analytics_sql_runs_through_the_guard_and_the_executor(
    source: str, engine: str, sql: str, params: dict
) -> None:
    used = {name: value for name, value in params.items() if f":{name}" in sql}
    result = execute(source, sql, used)
    assert result.columns
    assert result.row_count > 0
    json.dumps(result.rows)
