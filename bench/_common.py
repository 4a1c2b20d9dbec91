"""Shared set-up for the benchmark scripts: Django settings, synthetic data sources."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# A realistic mix of column types: integers, text, reals, ISO dates, flags.
ROWS_SQL = """
CREATE TABLE events AS
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
SELECT i AS id,
       'customer ' || (i % 9973) AS customer,
       (i % 1000) * 1.25 AS amount,
       date('2024-01-01', '+' || (i % 365) || ' days') AS day,
       i % 2 AS flag,
       printf('%08x', (i * 2654435761) % 4294967296) AS code
FROM n
"""

POSTGRES_ROWS_SQL = """
CREATE TABLE events AS
SELECT i AS id,
       'customer ' || (i % 9973) AS customer,
       ((i % 1000) * 1.25)::numeric(10, 2) AS amount,
       date '2024-01-01' + (i % 365) AS day,
       i % 2 = 0 AS flag,
       to_hex((i::bigint * 2654435761) % 4294967296) AS code
FROM generate_series(1, {rows}) AS i
"""


def setup_django() -> None:
    import django

    django.setup()


def build_sqlite(path: Path, rows: int) -> Path:
    if path.exists():
        path.unlink()
    connection = sqlite3.connect(path)
    connection.execute(ROWS_SQL.format(rows=int(rows)))
    connection.commit()
    connection.close()
    return path


@contextmanager
def empty_postgres_database(server_url: str):
    """A throwaway database on the server, dropped afterwards (connections and all); yields
    its URL."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database(server_url: str, rows: int):
    """A throwaway database holding `events`, dropped afterwards; yields its URL."""
    import psycopg

    with empty_postgres_database(server_url) as url:
        with psycopg.connect(url) as connection:
            connection.execute(POSTGRES_ROWS_SQL.format(rows=int(rows)))
            connection.execute("ANALYZE events")
        yield url


def bench_source(url: str) -> str:
    """The DATA_SOURCES value for the throwaway database, as the executor's side connects.

    The bench connects as the server's superuser (it creates and drops the database), which
    the executor refuses unless the source accepts a privileged role. The privileges check
    still runs on every connection, in the same round trip, so its cost is measured.
    """
    separator = "&" if "?" in url else "?"
    return f"bench={url}{separator}allow_privileged=true"


def best_times(repeats: int, *runs: Callable[[], object]) -> list[float]:
    """The fastest of `repeats` timed runs of each callable, in seconds.

    The runs take turns, so a noisy neighbour on the machine slows both sides alike, and
    the best time is the one least disturbed by it.
    """
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for index, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def postgres_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL", "")
