"""Our executor against the raw driver, fetching the same 100,000 rows.

    .venv/bin/python bench/executor_vs_driver.py [--rows 100000] [--repeats 5]

Both sides open a connection, run the query and fetch every row; the executor also parses
and checks the SQL, sets up the read-only protections, types the columns and makes the
values JSON-friendly. Prints each side's best time and the ratio (target: at most 1.2x).
SQLite always; PostgreSQL too when BENCH_POSTGRES_URL or TEST_POSTGRES_URL names a server
(a superuser DSN: a throwaway database is created and dropped).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path

from _common import (
    bench_source,
    best_times,
    build_sqlite,
    postgres_database,
    postgres_url,
    setup_django,
)

SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"
TARGET = 1.2


def report(engine: str, rows: int, raw: float, ours: float) -> bool:
    ratio = ours / raw
    verdict = "ok" if ratio <= TARGET else f"ABOVE the {TARGET}x target"
    print(
        f"{engine:<10} {rows:>9,} rows   driver {raw * 1000:8.1f} ms   "
        f"executor {ours * 1000:8.1f} ms   ratio {ratio:5.2f}x   {verdict}"
    )
    return ratio <= TARGET


def bench_sqlite(rows: int, repeats: int) -> bool:
    from django.test.utils import override_settings

    from apps.datasources.executor import execute

    with tempfile.TemporaryDirectory() as directory:
        path = build_sqlite(Path(directory) / "bench.sqlite3", rows)

        def raw() -> None:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            fetched = connection.execute(SQL).fetchall()
            connection.close()
            assert len(fetched) == rows

        def ours() -> None:
            result = execute("bench", SQL, max_rows=rows)
            assert result.row_count == rows

        with override_settings(DATA_SOURCES=f"bench=sqlite:///{path}"):
            ours()  # warm the guard's parse cache and the page cache alike
            raw()
            raw_time, ours_time = best_times(repeats, raw, ours)
    return report("SQLite", rows, raw_time, ours_time)


def bench_postgres(server_url: str, rows: int, repeats: int) -> bool:
    import psycopg
    from django.test.utils import override_settings

    from apps.datasources.executor import execute

    with postgres_database(server_url, rows) as url:

        def raw() -> None:
            with psycopg.connect(url) as connection:
                fetched = connection.execute(SQL).fetchall()
            assert len(fetched) == rows

        def ours() -> None:
            result = execute("bench", SQL, max_rows=rows)
            assert result.row_count == rows

        with override_settings(DATA_SOURCES=bench_source(url)):
            ours()
            raw()
            raw_time, ours_time = best_times(repeats, raw, ours)
    return report("PostgreSQL", rows, raw_time, ours_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    setup_django()
    results = [bench_sqlite(args.rows, args.repeats)]
    server = postgres_url()
    if server:
        results.append(bench_postgres(server, args.rows, args.repeats))
    else:
        print("PostgreSQL skipped: set BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) to include it.")
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
