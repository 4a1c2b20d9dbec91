"""Real worker processes on a database queue of their own (a SQLite file)."""

from __future__ import annotations

import signal

import pytest

from tests.jobs.worker_processes import (
    manage,
    read,
    shell,
    start_worker,
    status_of,
    wait_for,
)
from tests.jobs.worker_processes import (
    queue_env as make_queue_env,
)


@pytest.fixture(scope="module")
def queue_env(tmp_path_factory):
    return make_queue_env(tmp_path_factory.mktemp("queue"))


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
