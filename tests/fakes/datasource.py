"""A small SQLite data source for agent tests, registered as `marketplace`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SHOP_SQL = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, parent_id INTEGER);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    status TEXT NOT NULL,
    ordered_at TEXT NOT NULL,
    total REAL NOT NULL
);
INSERT INTO categories (id, name) VALUES (1, 'Books'), (2, 'Games'), (3, 'Garden');
INSERT INTO orders (category_id, status, ordered_at, total) VALUES
    (1, 'delivered', '2024-05-02', 12.5),
    (1, 'delivered', '2024-05-03', 30.0),
    (2, 'cancelled', '2024-05-04', 60.0),
    (2, 'delivered', '2024-05-05', 45.0),
    (3, 'paid', '2024-05-06', 8.0);
"""


def build_shop(path: Path) -> Path:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SHOP_SQL)
        connection.commit()
    finally:
        connection.close()
    return path


def order_count(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    finally:
        connection.close()
