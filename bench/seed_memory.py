"""Peak memory of `manage.py seed_demo` at --scale 1 and --scale 5.

    .venv/bin/python bench/seed_memory.py [--scales 1 5] [--postgres]

Each build runs in a fresh child process (`seed_demo --database-url ... --force`, into a
SQLite file in a temporary directory, or into a throwaway PostgreSQL database with
--postgres when BENCH_POSTGRES_URL or TEST_POSTGRES_URL names a server) and reports its
peak resident set size. The dataset is generated while it is written, so the peak should
not grow with the scale. Target: the peak at the largest scale at most 1.3x the peak at the
smallest. Exits non-zero above it.
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

from _common import postgres_url, setup_django

TARGET = 1.3


def child(url: str, scale: float) -> None:
    setup_django()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("seed_demo", scale=scale, force=True, database_url=url, verbosity=0)
    seconds = time.perf_counter() - started
    # ru_maxrss is in kilobytes on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "seconds": seconds}))


def measure(url: str, scale: float) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", url, "--scale", str(scale)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench(engine: str, urls: list[str], scales: list[float]) -> bool:
    peaks = []
    for url, scale in zip(urls, scales, strict=True):
        result = measure(url, scale)
        peaks.append(result["peak_mb"])
        print(
            f"{engine:<10} --scale {scale:<4g} peak RSS {result['peak_mb']:6.1f} MB   "
            f"{result['seconds']:6.1f} s"
        )
    ratio = peaks[-1] / peaks[0]
    ok = ratio <= TARGET
    verdict = "ok" if ok else f"ABOVE the target of {TARGET}x"
    print(
        f"{engine:<10} peak at --scale {scales[-1]:g} / --scale {scales[0]:g}: "
        f"{ratio:.2f}x   {verdict}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--postgres", action="store_true", help="load into PostgreSQL too")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.scale)
        return
    results = []
    with tempfile.TemporaryDirectory() as directory:
        urls = [f"sqlite:///{Path(directory) / f'demo-{s:g}.sqlite3'}" for s in args.scales]
        results.append(bench("SQLite", urls, args.scales))
    if args.postgres:
        server = postgres_url()
        if not server:
            raise SystemExit("--postgres needs BENCH_POSTGRES_URL or TEST_POSTGRES_URL.")
        results.append(bench_postgres(server, args.scales))
    if not all(results):
        raise SystemExit(1)


def bench_postgres(server: str, scales: list[float]) -> bool:
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"bench_seed_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    try:
        # One database: each build replaces the previous one's tables.
        return bench("PostgreSQL", [url] * len(scales), scales)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
