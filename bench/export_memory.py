"""Peak memory of a streamed CSV export: 250,000, 500,000 and 1,000,000 rows.

    .venv/bin/python bench/export_memory.py [--format csv|json|xlsx] [--max-rows 1000000]

Each export runs in a fresh child process (so one measurement cannot inherit another's
memory) that streams the rows with executor.stream() through the export writer into
/dev/null, and reports its peak resident set size. Prints the peak for each row count and
how much it grew from the smallest to the largest (target: under 150 MB, and flat).
SQLite always; PostgreSQL too when BENCH_POSTGRES_URL or TEST_POSTGRES_URL names a server.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_source, build_sqlite, postgres_database, postgres_url, setup_django

ROW_COUNTS = (250_000, 500_000, 1_000_000)
TARGET_MB = 150
SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id LIMIT :rows"


def rss_mb() -> float:
    """The current resident set size, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(url: str, rows: int, export_format: str) -> None:
    setup_django()
    from django.test.utils import override_settings

    from apps.datasources.executor import stream
    from apps.datasources.exports import EXPORT_FORMATS

    writer = EXPORT_FORMATS[export_format].write
    with override_settings(DATA_SOURCES=bench_source(url)):
        # Warm up: imports, the guard, one connection, so the baseline is the app at rest.
        with stream("bench", SQL, {"rows": 10}) as (columns, batches):
            for _ in writer(columns, batches):
                pass
        baseline = rss_mb()
        started = time.perf_counter()
        written = 0
        with (
            open("/dev/null", "wb") as sink,
            stream("bench", SQL, {"rows": rows}, max_rows=rows) as (columns, batches),
        ):
            for chunk in writer(columns, batches):
                written += len(chunk)
                sink.write(chunk)
        seconds = time.perf_counter() - started
    # ru_maxrss is in kilobytes on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": batches.row_count,
                "baseline_mb": baseline,
                "peak_mb": peak,
                "seconds": seconds,
                "bytes": written,
            }
        )
    )


def measure(url: str, rows: int, export_format: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", url, "--rows", str(rows), "--format", export_format],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench(engine: str, url: str, export_format: str, counts: list[int]) -> bool:
    peaks = []
    for rows in counts:
        result = measure(url, rows, export_format)
        assert result["rows"] == rows, result
        peaks.append(result["peak_mb"])
        print(
            f"{engine:<10} {export_format:<4} {rows:>9,} rows   "
            f"peak RSS {result['peak_mb']:6.1f} MB   (at rest {result['baseline_mb']:5.1f} MB)   "
            f"{result['seconds']:5.1f} s   {result['bytes'] / 1e6:6.1f} MB written"
        )
    growth = peaks[-1] - peaks[0]
    ok = max(peaks) < TARGET_MB and growth < 0.1 * peaks[0]
    verdict = "ok" if ok else f"ABOVE target (<{TARGET_MB} MB and flat)"
    print(f"{engine:<10} growth {counts[0]:,} -> {counts[-1]:,} rows: {growth:+.1f} MB   {verdict}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--format", default="csv", choices=["csv", "json", "xlsx"])
    parser.add_argument("--max-rows", type=int, default=ROW_COUNTS[-1])
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.format)
        return
    counts = [count for count in ROW_COUNTS if count <= args.max_rows] or [args.max_rows]
    results = []
    with tempfile.TemporaryDirectory() as directory:
        path = build_sqlite(Path(directory) / "bench.sqlite3", counts[-1])
        results.append(bench("SQLite", f"sqlite:///{path}", args.format, counts))
    server = postgres_url()
    if server:
        with postgres_database(server, counts[-1]) as url:
            results.append(bench("PostgreSQL", url, args.format, counts))
    else:
        print("PostgreSQL skipped: set BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) to include it.")
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
