"""The API's execute endpoint over HTTP against a bare ASGI app, for a result of the display cap.

    .venv/bin/python bench/api_execute.py [--rows 1000] [--repeats 50]

POST /api/artifacts/{id}/execute/ returns at most the display cap (1,000 rows). The app
runs under uvicorn on loopback (ASGI, as `make run` serves) beside a bare ASGI app
(bench/bare_asgi.py) under the same uvicorn, which answers with the same rows fetched with
sqlite3 and written as JSON: the floor for any endpoint returning them over HTTP. Each side
gets the same number of requests on one kept-alive connection, taking turns; the best time
counts. The endpoint also authenticates, looks the artifact up, validates the parameters,
guards the SQL, types the columns, records the run (one transaction on the app's
database) and updates the statistics. The raw driver, the executor and recording a run,
in this process, are shown too, so the API's own cost is visible.

Target: the endpoint at most 3x the bare app. Exits non-zero above it.
"""

from __future__ import annotations

import argparse
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

from _common import ROOT, best_times, build_sqlite, setup_django

TARGET = 3.0

SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"


def prepare(workdir: Path, rows: int) -> tuple[Path, str, int]:
    """A data source of `rows` rows, an app database, a user with a token and an artifact.

    Returns the source's path, the token and the artifact's id.
    """
    source = build_sqlite(workdir / "source.sqlite3", rows)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'app.sqlite3'}"
    os.environ["DATA_SOURCES"] = f"bench=sqlite:///{source}"
    os.environ["DEFAULT_DATA_SOURCE"] = "bench"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from apps.accounts.models import ApiToken
    from apps.llm_artifact.models import Artifact

    if rows > settings.DATA_SOURCE_MAX_ROWS:
        raise SystemExit(
            f"--rows must be at most the display cap ({settings.DATA_SOURCE_MAX_ROWS})"
        )
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    _, token = ApiToken.objects.create(user=user)
    artifact = Artifact.objects.create(
        owner=user, title="Bench events", data_source="bench", sql_query=SQL
    )
    return source, token, artifact.pk


def raw_driver(source: Path, rows: int) -> Callable[[], None]:
    def run() -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    servers: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as directory:
        source, token, artifact_id = prepare(Path(directory), args.rows)
        os.environ["BENCH_SOURCE"] = str(source)
        try:
            app_port, bare_port = free_port(), free_port()
            servers.append(start_server(app_port, "config.asgi:application"))
            servers.append(start_server(bare_port, "bare_asgi:app", "--app-dir", "bench"))
            api = over_http(
                app_port,
                args.rows,
                f"/api/artifacts/{artifact_id}/execute/",
                {"Authorization": f"Token {token}"},
            )
            sides = [
                raw_driver(source, args.rows),
                executor(args.rows),
                recording_a_run(artifact_id),
                over_http(bare_port, args.rows, "/"),
                api,
            ]
            for side in sides:
                side()  # warm caches: the guard's parse, the page cache, Django's first request
            driver, executor_time, record, bare, api_time = best_times(args.repeats, *sides)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    ratio = api_time / bare
    print(f"SQLite, {args.rows:,} rows, best of {args.repeats}; HTTP to uvicorn on loopback")
    print(f"  raw driver       {driver * 1000:8.2f} ms   (in process)")
    print(f"  executor         {executor_time * 1000:8.2f} ms   (in process)")
    print(f"  recording        {record * 1000:8.2f} ms   (in process, one run with its snapshot)")
    print(f"  bare ASGI app    {bare * 1000:8.2f} ms   (sqlite3 + json over HTTP)")
    verdict = "ok" if ratio <= TARGET else f"ABOVE the target of {TARGET:g}x"
    print(f"  API execute      {api_time * 1000:8.2f} ms   {ratio:5.2f}x the bare app   {verdict}")
    if ratio > TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
