"""Real worker processes on a database queue of their own (a SQLite file)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def queue_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("queue")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'app.sqlite3'}",
        "TASKS_BACKEND": "database",
        "JOBS_LEASE_SECONDS": "2",
        "JOBS_POLL_SECONDS": "0.1",
        "DJANGO_LOCAL_DEMO": "true",
        "PYTHONPATH": str(ROOT),
    }
    manage(env, "migrate", "--noinput", "-v0")
    return env


def manage(env, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def shell(env, code: str) -> str:
    return manage(env, "shell", "-v0", "-c", code).stdout.strip()


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "-v0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def read(env, sql: str, *params) -> list[tuple]:
    # Straight from the queue's SQLite file: a Django shell per look would take seconds.
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=10) as db:
        return db.execute(sql, params).fetchall()


def status_of(env, job_id: str) -> str:
    return read(env, "SELECT status FROM jobs_job WHERE id = ?", job_id.replace("-", ""))[0][0]


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_a_worker_process_runs_queued_jobs(queue_env):
    job_id = shell(
        queue_env,
        "from tests.jobs.sample_tasks import add; print(add.enqueue(20, 22).pk)",
    )
    manage(queue_env, "worker", "--batch", "--no-periodic", "-v0")
    assert (
        shell(
            queue_env,
            f"from apps.jobs.models import Job; j = Job.objects.get(pk='{job_id}'); "
            "print(j.status, j.result)",
        )
        == "succeeded 42"
    )


def test_a_job_survives_its_worker_being_killed(queue_env, tmp_path):
    marker = tmp_path / "marker.txt"
    job_id = shell(
        queue_env,
        "from tests.jobs.sample_tasks import write_marker; "
        f"print(write_marker.enqueue('{marker}', 3.0).pk)",
    )
    first = start_worker(queue_env)
    try:
        wait_for(lambda: marker.exists() and "start 1" in marker.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    assert status_of(queue_env, job_id) == "running"

    second = start_worker(queue_env)
    try:
        wait_for(lambda: status_of(queue_env, job_id) == "succeeded", timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)
    # Started twice (the first worker died in the middle), finished once.
    assert marker.read_text().splitlines() == ["start 1", "start 2", "done"]
    outcomes = read(
        queue_env,
        "SELECT outcome FROM jobs_jobattempt WHERE job_id = ? ORDER BY number",
        job_id.replace("-", ""),
    )
    assert outcomes == [("lost",), ("succeeded",)]
