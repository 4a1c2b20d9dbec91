"""A tiny shop dataset, the same rows in SQLite and PostgreSQL, for executor tests.

Small on purpose: every expected value in a test can be checked by hand against it.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

CATEGORIES = [
    (1, "Electronics", None),
    (2, "Phones", 1),
    (3, "Smartphones", 2),
    (4, "Books", None),
]
CUSTOMERS = [
    (1, "Ada Lovelace", "ada@example.com", "GB", "2023-01-05", True),
    (2, "Alan Turing", "alan@example.com", "GB", "2023-02-11", False),
    (3, "Grace Hopper", "grace@example.com", "US", "2023-03-20", True),
    (4, "Edsger Dijkstra", "edsger@example.com", "NL", "2023-04-02", False),
    (5, "Barbara Liskov", None, "US", "2023-05-17", False),
]
# (id, customer_id, category_id, status, ordered_at, total)
ORDERS = [
    (1, 1, 3, "paid", "2024-01-03 10:00:00", "120.50"),
    (2, 1, 4, "delivered", "2024-01-15 12:30:00", "35.00"),
    (3, 2, 3, "cancelled", "2024-02-01 09:15:00", "999.99"),
    (4, 3, 2, "paid", "2024-02-10 18:45:00", "250.00"),
    (5, 3, 4, "shipped", "2024-02-28 08:00:00", "12.25"),
    (6, 3, 1, "delivered", "2024-03-05 14:00:00", "80.00"),
    (7, 4, 4, "new", "2024-03-09 16:20:00", "42.00"),
    (8, 5, 3, "returned", "2024-03-21 11:11:00", "640.00"),
    (9, 2, 4, "paid", "2024-04-02 10:05:00", "18.75"),
    (10, 1, 2, "paid", "2024-04-18 19:30:00", "310.00"),
]

SQLITE_SCHEMA = """
CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id INTEGER REFERENCES categories (id)
);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    country TEXT NOT NULL,
    signed_up_at TEXT NOT NULL,
    is_vip INTEGER NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    category_id INTEGER NOT NULL REFERENCES categories (id),
    status TEXT NOT NULL,
    ordered_at TEXT NOT NULL,
    total REAL NOT NULL
);
CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid';
CREATE INDEX orders_customer ON orders (customer_id);
"""

POSTGRES_SCHEMA = """
CREATE TABLE categories (
    id serial PRIMARY KEY,
    name text NOT NULL,
    parent_id integer REFERENCES categories (id)
);
CREATE TABLE customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email text,
    country text NOT NULL,
    signed_up_at date NOT NULL,
    is_vip boolean NOT NULL
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    category_id integer NOT NULL REFERENCES categories (id),
    status text NOT NULL,
    ordered_at timestamp NOT NULL,
    total numeric(10, 2) NOT NULL
);
CREATE VIEW paid_orders AS SELECT * FROM orders WHERE status = 'paid';
"""

TABLE_NAMES = ["categories", "customers", "orders"]

# Analytics SQL that must pass the guard and run unharmed on both engines.
ANALYTICS_BOTH = {
    "join_group": (
        "SELECT c.country, count(*) AS orders, sum(o.total) AS revenue "
        "FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.country HAVING count(*) > 1 ORDER BY revenue DESC"
    ),
    "left_join": (
        "SELECT c.name, o.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id"
    ),
    "cte": (
        "WITH big AS (SELECT * FROM orders WHERE total > 100) "
        "SELECT status, count(*) FROM big GROUP BY status"
    ),
    "recursive_cte": (
        "WITH RECURSIVE tree(id, name, depth) AS ("
        " SELECT id, name, 0 FROM categories WHERE parent_id IS NULL"
        " UNION ALL SELECT c.id, c.name, t.depth + 1 FROM categories c"
        " JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree ORDER BY depth LIMIT 10"
    ),
    "window": (
        "SELECT id, total, rank() OVER (PARTITION BY status ORDER BY total DESC) AS r, "
        "sum(total) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        "FROM orders"
    ),
    "union": "SELECT name FROM customers UNION SELECT name FROM categories",
    "union_all": "SELECT 1 AS x UNION ALL SELECT 2",
    "intersect": "SELECT customer_id FROM orders INTERSECT SELECT id FROM customers",
    "except": "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders",
    "subquery": (
        "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 100)"
    ),
    "correlated_subquery": (
        "SELECT c.name, (SELECT max(o.total) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c"
    ),
    "exists": "SELECT * FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = c.id)",
    "case": (
        "SELECT id, CASE WHEN total > 100 THEN 'big' WHEN total > 20 THEN 'medium' "
        "ELSE 'small' END AS size FROM orders"
    ),
    "values": "VALUES (1, 'a'), (2, 'b')",
    "strings_that_look_dangerous": (
        "SELECT 'DROP TABLE orders; --' AS a, ':notaparam' AS b, 'pg_sleep(1)' AS c"
    ),
    "comment_that_looks_dangerous": "SELECT 1 /* DELETE FROM orders */ -- ; DROP TABLE x",
    "trailing_semicolon": "SELECT 1;",
    "column_named_like_keywords": (
        'SELECT "delete", "update" FROM (SELECT 1 AS "delete", 2 AS "update") t'
    ),
    "named_parameters": "SELECT * FROM orders WHERE status = :status AND total > :minimum",
}
ANALYTICS_POSTGRES = {
    "parenthesised": "(SELECT 1)",
    "casts": "SELECT total::numeric(10, 2), ordered_at::date, '2024-01-01'::date + 1 FROM orders",
    "date_functions": (
        "SELECT date_trunc('month', ordered_at) AS month, extract(dow FROM ordered_at), "
        "ordered_at - interval '7 days', age(now(), ordered_at) FROM orders"
    ),
    "filter": "SELECT count(*) FILTER (WHERE status = 'paid') FROM orders",
    "distinct_on": "SELECT DISTINCT ON (customer_id) * FROM orders ORDER BY customer_id, id",
    "generate_series": "SELECT * FROM generate_series(1, 10) AS g(n)",
    "lateral": (
        "SELECT c.name, o.total FROM customers c CROSS JOIN LATERAL "
        "(SELECT total FROM orders WHERE customer_id = c.id ORDER BY total DESC LIMIT 1) o"
    ),
    "percentile": "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders",
    "string_agg": "SELECT string_agg(name, ', ' ORDER BY name) FROM customers",
    "table_statement": "TABLE orders",
    "current_setting_reads": "SELECT current_setting('TimeZone')",
    "parameter_cast": "SELECT * FROM orders WHERE ordered_at >= :since::date",
}
ANALYTICS_SQLITE = {
    "date_functions": (
        "SELECT strftime('%Y-%m', ordered_at) AS month, date(ordered_at, '-7 days'), "
        "julianday('now') - julianday(ordered_at) FROM orders"
    ),
    "iif_and_glob": (
        "SELECT iif(total > 100, 'big', 'small'), name GLOB 'A*' FROM orders, customers"
    ),
    "group_concat": "SELECT group_concat(name, ', ') FROM customers",
    "limit_offset": "SELECT * FROM orders LIMIT 5 OFFSET 2",
    "json_extract": "SELECT json_extract('{\"a\": 1}', '$.a')",
}


# Built once per test run and copied for each test: building commits to disk (fsyncs),
# 70-200 ms on a busy machine against well under 1 ms for a copy of the same bytes.
_TEMPLATE_DIRECTORY = tempfile.TemporaryDirectory(prefix="test-sample-shop-")


@functools.cache
def _sqlite_template() -> Path:
    return _build_sqlite(Path(_TEMPLATE_DIRECTORY.name) / "shop.sqlite3")


def build_sqlite(path: Path) -> Path:
    """The sample shop as a new SQLite file at `path` (a copy of one built once)."""
    return Path(shutil.copyfile(_sqlite_template(), path))


def _build_sqlite(path: Path) -> Path:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SQLITE_SCHEMA)
        connection.executemany("INSERT INTO categories VALUES (?, ?, ?)", CATEGORIES)
        connection.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)",
            [(*row[:5], int(row[5])) for row in CUSTOMERS],
        )
        connection.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
            [(*row[:5], float(row[5])) for row in ORDERS],
        )
        connection.commit()
    finally:
        connection.close()
    return path


def load_postgres(connection) -> None:
    """Create the tables and rows through an open psycopg connection (and commit)."""
    with connection.cursor() as cursor:
        cursor.execute(POSTGRES_SCHEMA)
        cursor.executemany("INSERT INTO categories VALUES (%s, %s, %s)", CATEGORIES)
        cursor.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s)", CUSTOMERS)
        cursor.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s)", ORDERS)
        for table in TABLE_NAMES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
    connection.commit()


def use_sqlite(directory: Path, settings, name: str = "marketplace") -> Path:
    """Build the shop in `directory` and configure it as the only data source, `name`."""
    path = build_sqlite(directory / "shop.sqlite3")
    settings.DATA_SOURCES = f"{name}=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = name
    return path


def sqlite_fingerprint(path: Path) -> tuple[str, tuple[str, ...]]:
    """The database file's bytes and the names of the files beside it.

    A write changes the bytes; ATTACH or VACUUM INTO would leave a new file behind.
    """
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, tuple(sorted(p.name for p in path.parent.iterdir()))
