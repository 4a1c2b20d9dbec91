"""A 1,000,000-row XLSX export through the background path, with the web process's memory.

    .venv/bin/python bench/background_export.py [--rows 1000000] [--format xlsx] [--bound-mb 30]

As `make run` serves it: the app under uvicorn (ASGI) and one `manage.py worker`, sharing a
database queue (the app's SQLite database in a temporary directory); the data source is a
generated SQLite table of --rows rows (bench/_common.py's events: integers, text, reals,
dates, flags). Over HTTP with an API token, the script asks
GET /api/artifacts/{id}/export/?format=xlsx&background=1 (202 with the job), follows the job's
url until it succeeds, printing its progress, then downloads the file to nowhere.

It prints the web process's peak resident set size (VmHWM) after start-up and a warm-up
request, and again after the export and the download; the worker's peak; and the times
(queue to file, and the download). The web process only enqueues, answers progress and
streams the file from disk, so its peak must stay flat: exits non-zero when it grew by more
than --bound-mb, or when the export did not succeed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, build_sqlite, setup_django

SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"


def peak_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process, in MB (Linux)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmHWM", "VmRSS"}:
            values[key] = int(rest.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                raise SystemExit("uvicorn exited before it was ready") from None
            time.sleep(0.1)
    raise SystemExit("uvicorn did not start within 60 s")


def prepare(workdir: Path, rows: int) -> tuple[str, int]:
    source = build_sqlite(workdir / "source.sqlite3", rows)
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'app.sqlite3'}",
        DATA_SOURCES=f"bench=sqlite:///{source}?background_timeout=600",
        DEFAULT_DATA_SOURCE="bench",
        EXPORT_FILES_DIR=str(workdir / "exports"),
        EXPORT_MAX_ROWS=str(max(rows, 1)),
        TASKS_BACKEND="database",
        JOBS_POLL_SECONDS="0.2",
        LOG_LEVEL="WARNING",
    )
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections

    from apps.accounts.models import ApiToken
    from apps.llm_artifact.models import Artifact

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    _, token = ApiToken.objects.create(user=user)
    artifact = Artifact.objects.create(
        owner=user, title="Bench events", data_source="bench", sql_query=SQL
    )
    connections.close_all()
    return token, artifact.pk


def request(port: int, token: str, method: str, path: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, headers={"Authorization": f"Token {token}"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, json.loads(body) if body else {}


def download(port: int, token: str, path: str) -> int:
    """Read the file in 1 MB pieces and throw them away; returns the bytes read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path, headers={"Authorization": f"Token {token}"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"download answered {response.status}: {response.read()[:300]!r}")
    size = 0
    while piece := response.read(1024 * 1024):
        size += len(piece)
    connection.close()
    return size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", default="xlsx", choices=["csv", "json", "xlsx"])
    parser.add_argument("--bound-mb", type=float, default=30.0)
    options = parser.parse_args()

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bgexport-")))
        started = time.perf_counter()
        token, artifact_id = prepare(workdir, options.rows)
        print(
            f"{options.rows:,}-row source and app database ready in "
            f"{time.perf_counter() - started:.1f} s"
        )
        port = free_port()
        env = os.environ.copy()
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        stack.callback(web.wait, timeout=15)
        stack.callback(web.terminate)
        worker = subprocess.Popen([sys.executable, "manage.py", "worker", "-v0"], cwd=ROOT, env=env)
        stack.callback(worker.wait, timeout=15)
        stack.callback(worker.terminate)
        wait_for_port(port, web)

        # Warm-up: Django, DRF and the artifact's pages loaded, as in a running server.
        request(port, token, "GET", f"/api/artifacts/{artifact_id}/")
        request(port, token, "GET", f"/api/artifacts/{artifact_id}/jobs/")
        web_before, _ = peak_mb(web.pid)

        clock = time.perf_counter()
        status, job = request(
            port,
            token,
            "GET",
            f"/api/artifacts/{artifact_id}/export/?format={options.format}&background=1",
        )
        if status != 202:
            raise SystemExit(f"export answered {status}: {job}")
        enqueue_ms = (time.perf_counter() - clock) * 1000
        job_path = job["url"].split(f":{port}", 1)[1]
        shown = (job["status"], -1)
        deadline = time.monotonic() + 1800
        while job["status"] in {"queued", "running"} and time.monotonic() < deadline:
            time.sleep(1)
            _, job = request(port, token, "GET", job_path)
            # A line a tenth of the way (and at each change of status), with the time.
            step = (job["status"], int(job["progress"] * 10))
            if step != shown:
                shown = step
                print(
                    f"  {time.perf_counter() - clock:6.1f} s  {job['status']:9} "
                    f"{job['progress'] * 100:5.1f}%  {job['progress_text']}",
                    flush=True,
                )
        written_s = time.perf_counter() - clock
        if job["status"] != "succeeded":
            print(f"The export did not succeed: {job['status']} {job['error']}")
            return 1
        clock = time.perf_counter()
        size = download(port, token, job["download_url"].split(f":{port}", 1)[1])
        download_s = time.perf_counter() - clock
        web_after, web_now = peak_mb(web.pid)
        worker_peak, _ = peak_mb(worker.pid)

    growth = web_after - web_before
    print(f"format {options.format}: {job['rows_written']:,} rows, {size / 1e6:.1f} MB file")
    print(
        f"enqueue (202): {enqueue_ms:.0f} ms; queue to file: {written_s:.1f} s; "
        f"download: {download_s:.1f} s"
    )
    print(
        f"web process peak RSS: {web_before:.1f} MB before, {web_after:.1f} MB after "
        f"(+{growth:.1f} MB; now {web_now:.1f} MB); bound +{options.bound_mb:g} MB"
    )
    print(f"worker process peak RSS: {worker_peak:.1f} MB")
    if growth > options.bound_mb:
        print("MISSED: the web process grew.")
        return 1
    print("MET: the web process stayed flat.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
