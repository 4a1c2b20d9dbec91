"""A background export done by a real worker process (`manage.py worker`) on a database
queue of its own (a SQLite file), as in production: the web side only enqueues."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.datasources import sample

ROOT = Path(__file__).resolve().parents[2]

ENQUEUE = """
from django.contrib.auth import get_user_model
from apps.llm_artifact.background import start_background_export
from apps.llm_artifact.models import Artifact
user = get_user_model().objects.create_user("exporter")
artifact = Artifact.objects.create(
    owner=user, title="Worker numbers", data_source="shop",
    sql_query="WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq "
    "WHERE n < :rows) SELECT n, n * n AS square FROM seq",
    query_params=[{"name": "rows", "type": "integer", "default": 10}],
)
record = start_background_export(
    artifact, user=user, raw_params={"rows": "25000"}, export_format="csv"
)
print(record.job.status, record.job_id)
"""

OUTCOME = """
from apps.llm_artifact.models import ArtifactJob
record = ArtifactJob.objects.select_related("job", "run").get()
print(record.job.status, record.rows_written, record.total_rows, record.run.row_count,
      record.file_name, record.job.progress, record.job.error)
"""


@pytest.fixture
def queue_env(tmp_path):
    shop = sample.build_sqlite(tmp_path / "shop.sqlite3")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "DATA_SOURCES": f"shop=sqlite:///{shop}?background_timeout=60",
        "DEFAULT_DATA_SOURCE": "shop",
        "EXPORT_FILES_DIR": str(tmp_path / "exports"),
        "TASKS_BACKEND": "database",
        "JOBS_LEASE_SECONDS": "2",
        "JOBS_POLL_SECONDS": "0.1",
        "DJANGO_LOCAL_DEMO": "true",
        "PYTHONPATH": str(ROOT),
    }
    manage(env, "migrate", "--noinput", "-v0")
    return env


def manage(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout.strip()


def test_a_worker_process_writes_a_background_export(queue_env, tmp_path):
    status, _job_id = manage(queue_env, "shell", "-v0", "-c", ENQUEUE).split()
    # Enqueued by the "web" side, done by nobody yet: the queue is in the database.
    assert status == "queued"

    manage(queue_env, "worker", "--batch", "--no-periodic", "-v0")

    status, written, total, run_rows, name, progress, *error = manage(
        queue_env, "shell", "-v0", "-c", OUTCOME
    ).split()
    assert status == "succeeded", error
    assert (written, total, run_rows, progress) == ("25000", "25000", "25000", "1.0")
    path = tmp_path / "exports" / name
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["n", "square"]
    assert rows[-1] == ["25000", "625000000"]
    assert len(rows) == 25001
    # Only the finished file is left: the temporary one was renamed.
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [name]
