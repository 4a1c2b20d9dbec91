"""TASKS_BACKEND=rq end to end: jobs enqueued on Redis and run by real `manage.py worker`
processes (RQ underneath), including a deferred job and a worker killed in the middle."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta

import pytest
import redis

from tests.jobs.conftest import redis_url_or_skip
from tests.jobs.worker_processes import (
    manage,
    queue_env,
    read,
    shell,
    start_worker,
    status_of,
    wait_for,
)

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def rq_env(tmp_path_factory):
    url = redis_url_or_skip()
    # TEST_REDIS_URL names a throwaway server (.ci/redis.sh): tasks left by an earlier run
    # would only be skipped by the workers, but they would slow these tests down.
    redis.Redis.from_url(url).flushdb()
    return queue_env(tmp_path_factory.mktemp("rq"), TASKS_BACKEND="rq", REDIS_URL=url)


def queued_on_redis(env) -> int:
    return redis.Redis.from_url(env["REDIS_URL"]).llen("rq:queue:default")


def test_an_rq_worker_process_runs_queued_jobs(rq_env):
    job_id = shell(rq_env, "from tests.jobs.sample_tasks import add; print(add.enqueue(20, 22).pk)")
    # The task is on Redis, not in the database's queue table.
    assert queued_on_redis(rq_env) == 1
    assert read(rq_env, "SELECT count(*) FROM django_tasks_database_dbtaskresult") == [(0,)]

    manage(rq_env, "worker", "--batch", "--no-periodic", "-v0")

    assert read(
        rq_env, "SELECT status, result FROM jobs_job WHERE id = ?", job_id.replace("-", "")
    ) == [("succeeded", "42")]
    assert queued_on_redis(rq_env) == 0


def test_a_deferred_job_runs_when_due_through_rqs_scheduler(rq_env):
    job_id = shell(
        rq_env,
        "from datetime import timedelta; from django.utils import timezone; "
        "from tests.jobs.sample_tasks import add; "
        "print(add.enqueue(1, 2, due_at=timezone.now() + timedelta(seconds=3)).pk)",
    )
    # Scheduled on Redis for later, not waiting in the queue.
    assert queued_on_redis(rq_env) == 0
    worker = start_worker(rq_env)
    try:
        wait_for(lambda: status_of(rq_env, job_id) == "succeeded", timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=15)
    ((due_at, started_at),) = read(
        rq_env, "SELECT due_at, started_at FROM jobs_job WHERE id = ?", job_id.replace("-", "")
    )
    # RQ's scheduler releases a deferred job on whole seconds, and a worker takes a job due
    # within the next second (apps/jobs/runner.run_job): never earlier than that.
    due = datetime.fromisoformat(due_at)
    assert datetime.fromisoformat(started_at) >= due - timedelta(seconds=1)


def test_a_job_survives_its_rq_worker_being_killed(rq_env, tmp_path):
    marker = tmp_path / "marker.txt"
    job_id = shell(
        rq_env,
        "from tests.jobs.sample_tasks import write_marker; "
        f"print(write_marker.enqueue('{marker}', 3.0).pk)",
    )
    first = start_worker(rq_env)
    try:
        wait_for(lambda: marker.exists() and "start 1" in marker.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    assert status_of(rq_env, job_id) == "running"

    # The second worker finds the lapsed lease and puts the job back on Redis.
    second = start_worker(rq_env)
    try:
        wait_for(lambda: status_of(rq_env, job_id) == "succeeded", timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)
    assert marker.read_text().splitlines() == ["start 1", "start 2", "done"]
    outcomes = read(
        rq_env,
        "SELECT outcome FROM jobs_job JOIN jobs_jobattempt ON jobs_jobattempt.job_id = jobs_job.id"
        " WHERE jobs_job.id = ? ORDER BY number",
        job_id.replace("-", ""),
    )
    assert outcomes == [("lost",), ("succeeded",)]
