"""The API's execute endpoint against the raw driver, for a result of the display cap.

    .venv/bin/python bench/api_execute.py [--rows 1000] [--repeats 20] [--server]

POST /api/artifacts/{id}/execute/ returns at most the display cap (1,000 rows), so that
is what is compared: the raw driver (sqlite3: connect, run, fetch all) against the whole
endpoint, which also authenticates, looks the artifact up, validates the parameters,
guards the SQL, types the columns, records the run, updates the statistics and renders
JSON. The executor alone, and recording a run alone (one transaction on the app's
database, whose commit waits for the disk), are shown too, so the API's own cost is
visible.

By default requests go through Django's test client (the full middleware and DRF stack,
no network). With --server they go over HTTP to a real uvicorn on loopback (ASGI, as
`make run` serves), on one kept-alive connection.

Prints each side's best time and the ratios; there is no target, only the overhead.
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

    from apps.llm_artifact.models import Artifact

    artifact = Artifact.objects.get(pk=artifact_id)

    def run() -> None:
        artifact.record_run(user=None, outcome="ok", started_at=timezone.now(), params={})

    return run


def through_test_client(token: str, artifact_id: int, rows: int) -> Callable[[], None]:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    url = f"/api/artifacts/{artifact_id}/execute/"

    def run() -> None:
        response = client.post(url, {}, format="json")
        assert response.status_code == 200, response.content[:300]
        assert json.loads(response.content)["row_count"] == rows

    return run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("uvicorn exited before it was ready") from None
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("uvicorn did not start within 20 s")


def over_http(port: int, token: str, artifact_id: int, rows: int) -> Callable[[], None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    url = f"/api/artifacts/{artifact_id}/execute/"

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
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--server", action="store_true", help="over HTTP to uvicorn instead of the test client"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        source, token, artifact_id = prepare(Path(directory), args.rows)
        port = free_port()
        server = start_server(port) if args.server else None
        try:
            if server:
                api = over_http(port, token, artifact_id, args.rows)
                via = "uvicorn over loopback HTTP"
            else:
                api = through_test_client(token, artifact_id, args.rows)
                via = "Django test client"
            sides = [
                raw_driver(source, args.rows),
                executor(args.rows),
                recording_a_run(artifact_id),
                api,
            ]
            for side in sides:
                side()  # warm caches: the guard's parse, the page cache, Django's first request
            driver_time, executor_time, record_time, api_time = best_times(args.repeats, *sides)
        finally:
            if server:
                server.terminate()
                server.wait(timeout=10)
    print(f"SQLite, {args.rows:,} rows, best of {args.repeats}; API via {via}")
    print(f"  raw driver     {driver_time * 1000:8.2f} ms")
    print(
        f"  executor       {executor_time * 1000:8.2f} ms   "
        f"{executor_time / driver_time:5.2f}x the driver"
    )
    print(f"  recording      {record_time * 1000:8.2f} ms   (one run, alone)")
    print(
        f"  API execute    {api_time * 1000:8.2f} ms   {api_time / driver_time:5.2f}x the driver"
        f"   ({(api_time - executor_time) * 1000:.2f} ms over the executor)"
    )


if __name__ == "__main__":
    main()
