"""The two README commands do the whole set-up: pinned through `make --dry-run`."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, *variables: str) -> list[str]:
    # -B: as on a fresh clone, where no stamp file exists yet.
    result = subprocess.run(
        ["make", "--dry-run", "-B", target, *variables],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def position(lines: list[str], fragment: str) -> int:
    for index, line in enumerate(lines):
        if fragment in line:
            return index
    raise AssertionError(f"{fragment!r} is not among the commands:\n" + "\n".join(lines))


def test_make_run_sets_everything_up_then_serves_asgi_on_localhost_beside_a_worker():
    lines = dry_run("run")
    steps = [
        "-m venv .venv",
        "pip install --quiet -r requirements.txt",
        "npm ci",
        "pybabel compile",
        "manage.py migrate",
        "manage.py collectstatic",
        "manage.py seed_demo",
        "manage.py demo_credentials --host 127.0.0.1 --port 8000",
        "WEB_HOST=127.0.0.1 WEB_PORT=8000 .venv/bin/honcho --procfile Procfile start",
    ]
    assert [position(lines, step) for step in steps] == sorted(
        position(lines, step) for step in steps
    )
    # honcho starts the Procfile's processes: uvicorn on that host and port, and a worker.
    procfile = dict(
        line.split(": ", 1)
        for line in (settings.BASE_DIR / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert procfile["web"].startswith(
        ".venv/bin/uvicorn config.asgi:application "
        "--host ${WEB_HOST:-127.0.0.1} --port ${WEB_PORT:-8000}"
    )
    assert procfile["worker"] == ".venv/bin/python manage.py worker"


def test_the_procfile_serves_asgi_and_runs_a_worker():
    procfile = (settings.BASE_DIR / "Procfile").read_text()
    processes = dict(
        line.split(": ", 1) for line in procfile.splitlines() if line and not line.startswith("#")
    )
    assert processes["web"].startswith(".venv/bin/uvicorn config.asgi:application")
    assert "--host ${WEB_HOST:-127.0.0.1} --port ${WEB_PORT:-8000}" in processes["web"]
    assert processes["worker"] == ".venv/bin/python manage.py worker"


def test_make_run_takes_another_port():
    lines = dry_run("run", "PORT=8123")
    assert "WEB_PORT=8123" in lines[position(lines, "honcho")]


def test_make_worker_starts_one_more_worker_after_the_set_up():
    lines = dry_run("worker")
    assert position(lines, "manage.py seed_demo") < position(lines, "manage.py worker")


def test_make_test_lints_checks_migrations_and_runs_pytest_after_the_set_up():
    lines = dry_run("test")
    steps = [
        "npm ci",
        "manage.py migrate",
        "ruff check .",
        "ruff format --check .",
        "makemigrations --check",
        ".venv/bin/pytest",
    ]
    assert [position(lines, step) for step in steps] == sorted(
        position(lines, step) for step in steps
    )


def test_ci_scripts_are_valid_bash():
    for script in (".ci/run", ".ci/postgres.sh", ".ci/redis.sh"):
        subprocess.run(["bash", "-n", script], cwd=settings.BASE_DIR, check=True)


def test_postgres_script_prints_the_test_server_url():
    result = subprocess.run(
        ["bash", ".ci/postgres.sh", "url"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "postgresql://postgres@127.0.0.1:54329/postgres"


def test_redis_script_prints_the_test_server_url_that_ci_exports():
    result = subprocess.run(
        ["bash", ".ci/redis.sh", "url"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "redis://127.0.0.1:63799/1"
    ci = (settings.BASE_DIR / ".ci" / "run").read_text()
    assert "TEST_REDIS_URL=$(bash .ci/redis.sh start)" in ci
    # A redis test skipped for want of the server fails CI, like PostgreSQL's and chromium's.
    assert "TEST_REDIS_URL|redis" in ci


def test_the_sql_editor_is_bundled_after_npm_ci_and_before_collectstatic():
    lines = dry_run("run")
    bundle = position(lines, "esbuild static/js/sql-editor/main.js --bundle")

    assert position(lines, "npm ci") < bundle < position(lines, "manage.py collectstatic")
    assert "--outfile=build/static/sql-editor/sql-editor.js" in lines[bundle + 1]
