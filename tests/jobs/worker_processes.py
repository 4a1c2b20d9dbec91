"""Real worker processes for the tests: an app database of their own (a SQLite file) and
`manage.py` run as a subprocess, on the database queue or on RQ."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def queue_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'app.sqlite3'}",
        "TASKS_BACKEND": "database",
        "JOBS_LEASE_SECONDS": "2",
        "JOBS_POLL_SECONDS": "0.1",
        "DJANGO_LOCAL_DEMO": "true",
        "PYTHONPATH": str(ROOT),
        **extra,
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
