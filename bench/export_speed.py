"""Speed of a streamed CSV export against the raw sqlite3 + csv floor, in the same run.

    .venv/bin/python bench/export_speed.py [--rows 1000000] [--repeats 5]

The floor is what any CSV export of a SQLite query must do: sqlite3 runs the query and
fetches the rows in batches, and the csv module writes each batch to a buffer that is
encoded and written out. Our side is the export path of the app without HTTP:
executor.stream() (the guard, the read-only connection, column typing) through
apps.datasources.exports.csv_chunks (which neutralises text a spreadsheet would run as a
formula). Both write into /dev/null; both sides take turns and the best run counts.
Target: at most 1.3x the floor. Exits non-zero above it.
"""

from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import best_times, build_sqlite, setup_django

TARGET = 1.3
SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"
BATCH = 2000  # executor.stream()'s default batch size


def floor(path: Path, rows: int) -> Callable[[], None]:
    def run() -> None:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        cursor = connection.execute(SQL)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        written = 0
        with open("/dev/null", "wb") as sink:
            writer.writerow([item[0] for item in cursor.description])
            while batch := cursor.fetchmany(BATCH):
                written += len(batch)
                writer.writerows(batch)
                sink.write(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        connection.close()
        assert written == rows

    return run


def ours(rows: int) -> Callable[[], None]:
    from apps.datasources.executor import stream
    from apps.datasources.exports import csv_chunks

    def run() -> None:
        with (
            open("/dev/null", "wb") as sink,
            stream("bench", SQL, max_rows=rows, batch_size=BATCH) as (columns, batches),
        ):
            for chunk in csv_chunks(columns, batches):
                sink.write(chunk)
        assert batches.row_count == rows

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = build_sqlite(Path(directory) / "bench.sqlite3", args.rows)
        setup_django()
        from django.test.utils import override_settings

        with override_settings(DATA_SOURCES=f"bench=sqlite:///{path}"):
            floor_time, our_time = best_times(args.repeats, floor(path, args.rows), ours(args.rows))
    ratio = our_time / floor_time
    verdict = "ok" if ratio <= TARGET else f"ABOVE the target of {TARGET}x"
    print(
        f"SQLite csv {args.rows:>10,} rows   sqlite3 + csv {floor_time:6.2f} s   "
        f"export {our_time:6.2f} s   ratio {ratio:5.2f}x   {verdict}"
    )
    if ratio > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
