"""The API's execute endpoint over HTTP against a bare ASGI app, for a result of the display cap.

    .venv/bin/python bench/api_execute.py [--rows 1000] [--repeats 50] [--postgres URL]

POST /api/artifacts/{id}/execute/ returns at most the display cap (1,000 rows). The app
runs under uvicorn on loopback (ASGI, as `make run` serves) beside a bare ASGI app
(bench/bare_asgi.py) under the same uvicorn, which answers with the same rows fetched with
sqlite3 and written as JSON: the floor for any endpoint returning them over HTTP. Each side
gets the same number of requests on one kept-alive connection, taking turns; the best time
counts. The endpoint also authenticates, looks the artifact up, validates the parameters,
guards the SQL, types the columns, records the run (one transaction on the app's
database) and updates the statistics. The raw driver, the executor and recording a run,
in this process, are shown too, so the API's own cost is visible.

SQLite: the app database and the data source are SQLite files in a temporary directory.
PostgreSQL (--postgres, or BENCH_POSTGRES_URL / TEST_POSTGRES_URL: a superuser DSN): both
are throwaway databases on that server, and the bare app fetches with psycopg. Each engine
runs in its own process (Django reads its settings once).

Target: the endpoint at most 3x the bare app. Exits non-zero above it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import (
    ROOT,
    bench_source,
    best_times,
    build_sqlite,
    empty_postgres_database,
    postgres_database,
    postgres_url,
    setup_django,
)

TARGET = 3.0

SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"


def prepare(
    stack: contextlib.ExitStack, engine: str, server: str, rows: int
) -> tuple[str, str, int]:
    """A data source of `rows` rows, an app database, a user with a token and an artifact.

    Returns the source (a SQLite path or a PostgreSQL URL), the token and the artifact's id.
    """
    if engine == "sqlite":
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        source = str(build_sqlite(workdir / "source.sqlite3", rows))
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'app.sqlite3'}"
        os.environ["DATA_SOURCES"] = f"bench=sqlite:///{source}"
    else:
        source = stack.enter_context(postgres_database(server, rows))
        os.environ["DATABASE_URL"] = stack.enter_context(empty_postgres_database(server))
        os.environ["DATA_SOURCES"] = bench_source(source)
    os.environ["DEFAULT_DATA_SOURCE"] = "bench"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections

    from apps.accounts.models import ApiToken
    from apps.llm_artifact.models import Artifact

    if rows > settings.DATA_SOURCE_MAX_ROWS:
        raise SystemExit(
            f"--rows must be at most the display cap ({settings.DATA_SOURCE_MAX_ROWS})"
        )
    # Closed before the database is dropped.
    stack.callback(connections.close_all)
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    _, token = ApiToken.objects.create(user=user)
    artifact = Artifact.objects.create(
        owner=user, title="Bench events", data_source="bench", sql_query=SQL
    )
    return source, token, artifact.pk


def raw_driver(source: str, rows: int) -> Callable[[], None]:
    def run() -> None:
        if source.startswith("postgresql"):
            import psycopg

            with psycopg.connect(source) as connection:
                fetched = connection.execute(SQL).fetchall()
        else:
            connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            fetched = connection.execute(SQL).fetchall()
            connection.close()
        assert len(fetched) == rows

    return run


def executor(rows: int) -> Callable[[], None]:
    from apps.datasources.executor import execute

    def run() -> None:
        assert execute("bench", SQL).row_count == rows

    return run


def recording_a_run(artifact_id: int) -> Callable[[], None]:
    from django.utils import timezone

    from apps.datasources.executor import execute
    from apps.llm_artifact.models import Artifact, result_snapshot

    artifact = Artifact.objects.get(pk=artifact_id)
    rows = execute(artifact.data_source, artifact.sql_query, {}).rows

    def run() -> None:
        # As the endpoint records a good run: with the snapshot of its first rows.
        artifact.record_run(
            user=None,
            outcome="ok",
            started_at=timezone.now(),
            params={},
            snapshot=result_snapshot(rows),
        )

    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, app: str, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", app, *options, "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("uvicorn exited before it was ready") from None
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("uvicorn did not start within 60 s")


def over_http(
    port: int, rows: int, url: str, headers: dict[str, str] | None = None
) -> Callable[[], None]:
    # Bounded: a timeout on every request, and a fixed number of them (--repeats).
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", **(headers or {})}

    def run() -> None:
        connection.request("POST", url, body=b"{}", headers=headers)
        response = connection.getresponse()
        content = response.read()
        assert response.status == 200, content[:300]
        assert json.loads(content)["row_count"] == rows

    return run


def run_engine(engine: str, server: str, rows: int, repeats: int) -> bool:
    with contextlib.ExitStack() as stack:
        source, token, artifact_id = prepare(stack, engine, server, rows)
        os.environ["BENCH_SOURCE"] = source
        app_port, bare_port = free_port(), free_port()
        for port, app, options in (
            (app_port, "config.asgi:application", ()),
            (bare_port, "bare_asgi:app", ("--app-dir", "bench")),
        ):
            server_process = start_server(port, app, *options)
            # Registered after the databases: the servers stop before they are dropped.
            stack.callback(server_process.wait, timeout=10)
            stack.callback(server_process.terminate)
        api = over_http(
            app_port,
            rows,
            f"/api/artifacts/{artifact_id}/execute/",
            {"Authorization": f"Token {token}"},
        )
        sides = [
            raw_driver(source, rows),
            executor(rows),
            recording_a_run(artifact_id),
            over_http(bare_port, rows, "/"),
            api,
        ]
        for side in sides:
            side()  # warm caches: the guard's parse, the page cache, Django's first request
        driver, executor_time, record, bare, api_time = best_times(repeats, *sides)
    ratio = api_time / bare
    name = "SQLite" if engine == "sqlite" else "PostgreSQL"
    print(f"{name}, {rows:,} rows, best of {repeats}; HTTP to uvicorn on loopback")
    print(f"  raw driver       {driver * 1000:8.2f} ms   (in process)")
    print(f"  executor         {executor_time * 1000:8.2f} ms   (in process)")
    print(f"  recording        {record * 1000:8.2f} ms   (in process, one run with its snapshot)")
    print(f"  bare ASGI app    {bare * 1000:8.2f} ms   (bare driver + json over HTTP)")
    verdict = "ok" if ratio <= TARGET else f"ABOVE the target of {TARGET:g}x"
    print(f"  API execute      {api_time * 1000:8.2f} ms   {ratio:5.2f}x the bare app   {verdict}")
    return ratio <= TARGET


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument(
        "--postgres",
        default=postgres_url(),
        help="a PostgreSQL server (superuser DSN): also run there, in throwaway databases",
    )
    parser.add_argument("--engine", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        return 0 if run_engine(args.engine, args.postgres, args.rows, args.repeats) else 1
    engines = ["sqlite"] + (["postgres"] if args.postgres else [])
    if not args.postgres:
        print("PostgreSQL skipped: give --postgres (or set BENCH_POSTGRES_URL) to include it.")
    status = 0
    for engine in engines:
        # Each engine in its own process: Django reads DATABASES once.
        command = [sys.executable, __file__, *sys.argv[1:], "--engine", engine]
        status = subprocess.run(command, check=False).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
