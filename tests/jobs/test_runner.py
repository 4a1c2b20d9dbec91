"""Jobs in-process (the tests' task backend runs each job when it is enqueued)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.jobs.models import Job, JobAttempt
from apps.jobs.runner import execute_job, run_job
from tests.jobs import sample_tasks

pytestmark = pytest.mark.django_db


def test_a_job_runs_and_keeps_its_result_and_attempt():
    job = sample_tasks.add.enqueue(2, 3)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == 5
    assert job.progress == 1.0
    assert [(a.number, a.outcome) for a in job.attempt_log.all()] == [(1, "succeeded")]


def test_a_transient_failure_is_retried_until_it_succeeds():
    sample_tasks.FLAKY_FAILURES.clear()
    job = sample_tasks.flaky.enqueue("twice", 2)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 3
    outcomes = list(job.attempt_log.values_list("outcome", "error"))
    assert outcomes == [
        ("retrying", "down for now (1)"),
        ("retrying", "down for now (2)"),
        ("succeeded", ""),
    ]


def test_a_job_that_keeps_failing_stops_after_its_attempts():
    sample_tasks.FLAKY_FAILURES.clear()
    job = sample_tasks.flaky.enqueue("always", 10)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.attempts == 3
    assert job.error == "down for now (3)"


def test_an_error_that_is_not_transient_fails_at_once_with_its_message():
    job = sample_tasks.broken.enqueue()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "the data is not what it should be"
    assert job.attempt_log.get().outcome == JobAttempt.Outcome.FAILED


def test_progress_is_recorded_and_the_time_limit_stops_the_job():
    job = sample_tasks.slow_steps.enqueue(10)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "time limit of 1 seconds" in job.error
    assert 0 < job.progress < 1
    assert job.progress_text.startswith("step ")
    assert job.attempt_log.get().outcome == JobAttempt.Outcome.TIMED_OUT


def test_the_same_key_gives_the_same_unfinished_job():
    later = timezone.now() + timedelta(hours=1)
    first = sample_tasks.add.enqueue(1, 1, key="schedule-7-0900", due_at=later)
    second = sample_tasks.add.enqueue(1, 1, key="schedule-7-0900", due_at=later)
    assert first.pk == second.pk
    assert Job.objects.filter(key="schedule-7-0900").count() == 1


def test_cancelling_a_queued_job_means_it_never_runs():
    job = sample_tasks.add.enqueue(1, 2, due_at=timezone.now() + timedelta(hours=1))
    assert job.request_cancel()
    assert job.status == Job.Status.CANCELLED
    assert run_job(str(job.pk), worker="w1") == "skipped"
    job.refresh_from_db()
    assert job.result is None


def test_a_job_is_run_by_one_worker_only():
    job = sample_tasks.add.enqueue(4, 4, due_at=timezone.now() + timedelta(hours=1))
    Job.objects.filter(pk=job.pk).update(due_at=timezone.now())
    assert run_job(str(job.pk), worker="w1") == "succeeded"
    assert run_job(str(job.pk), worker="w2") == "skipped"
    assert JobAttempt.objects.filter(job=job).count() == 1


def test_a_job_whose_worker_died_is_run_again_and_once():
    job = sample_tasks.add.enqueue(5, 5, due_at=timezone.now() + timedelta(hours=1))
    # A worker took it and died: it is running with a lease that lapsed.
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        lease_owner="dead-host:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        attempts=1,
        due_at=timezone.now(),
    )
    JobAttempt.objects.create(job=job, number=1, worker="dead-host:1")
    requeued = Job.objects.recover()
    assert [j.pk for j in requeued] == [job.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == 10
    assert list(job.attempt_log.values_list("outcome", flat=True)) == ["lost", "succeeded"]
    assert Job.objects.recover() == []


def test_a_lapsed_job_out_of_attempts_fails_with_the_reason():
    job = sample_tasks.add.enqueue(5, 5, due_at=timezone.now() + timedelta(hours=1))
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        lease_owner="dead-host:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        attempts=3,
    )
    Job.objects.recover()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "dead-host:1" in job.error


def test_an_operator_retries_a_failed_job():
    job = sample_tasks.broken.enqueue()
    job.refresh_from_db()
    assert job.retry()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.attempt_log.count() == 2


def test_unknown_job_names_fail_without_retrying():
    job = Job.objects.create(name="tests.jobs.sample_tasks.no_such_job")
    execute_job.enqueue(str(job.pk))
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.attempts == 1
