"""Declaring, enqueueing and running jobs.

An app declares its background work in its `tasks.py` as plain functions taking ids:

    @job(time_limit=3600, max_attempts=3)
    def export_run(ctx: JobContext, export_id: int) -> dict: ...

    export_run.enqueue(export.pk, requested_by=user)   # -> Job

Every job goes through the one queue task `execute_job(job_id)`, which takes the job's lease (a
conditional UPDATE: two workers given the same id cannot both run it), records the attempt,
renews the lease from a heartbeat thread while the function runs, and records the outcome.
Functions must be idempotent: a job whose worker died runs again from the start.

What a function may raise:
- `TransientError` (or a `ConnectionError`): tried again after a back-off, up to
  `max_attempts`;
- `Cancelled`: someone asked to cancel (raised for it by `ctx.check()`);
- anything else: the job fails with the error's message.
The time limit is cooperative: the heartbeat notices it, calls the function's `ctx.on_stop`
callbacks (a query interrupts its connection) and `ctx.check()` raises `TimeLimitExceeded`.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django_tasks import task
from django_tasks.backends.immediate import ImmediateBackend

from apps.jobs.models import LEASE, Job, JobAttempt

logger = logging.getLogger(__name__)


class JobError(Exception):
    pass


class TransientError(JobError):
    """A failure worth another attempt later (a source or receiver that is down for now)."""


class Cancelled(JobError):
    pass


class TimeLimitExceeded(JobError):
    pass


# Retries wait 10 s, 40 s, 90 s... (with jitter, so failed jobs do not return together).
RETRY_BASE_SECONDS = 10.0


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=RETRY_BASE_SECONDS * attempt**2 * random.uniform(0.8, 1.2))


def worker_id() -> str:
    """This process, as operators read it in the admin: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobFunction:
    func: Callable[..., Any]
    name: str
    time_limit: int
    max_attempts: int
    retry_on: tuple[type[BaseException], ...]

    def __call__(self, ctx: JobContext, *args):
        return self.func(ctx, *args)

    def enqueue(
        self,
        *arguments,
        requested_by=None,
        key: str = "",
        due_at=None,
        time_limit: int | None = None,
    ) -> Job:
        """A new job for these arguments, or the unfinished job with the same key."""
        if key:
            existing = Job.objects.unfinished().filter(name=self.name, key=key).first()
            if existing:
                return existing
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    name=self.name,
                    arguments=list(arguments),
                    key=key,
                    requested_by=requested_by,
                    max_attempts=self.max_attempts,
                    time_limit=time_limit or self.time_limit,
                    due_at=due_at or timezone.now(),
                )
        except IntegrityError:
            # Another process enqueued the same key between our lookup and our insert.
            return Job.objects.unfinished().get(name=self.name, key=key)
        enqueue_existing(job)
        return job


_JOBS: dict[str, JobFunction] = {}


def job(
    *,
    time_limit: int = 600,
    max_attempts: int = 3,
    retry_on: tuple[type[BaseException], ...] = (TransientError, ConnectionError),
) -> Callable[[Callable[..., Any]], JobFunction]:
    def decorate(func: Callable[..., Any]) -> JobFunction:
        name = f"{func.__module__}.{func.__qualname__}"
        job_function = JobFunction(func, name, time_limit, max_attempts, retry_on)
        functools.update_wrapper(job_function, func)
        _JOBS[name] = job_function
        return job_function

    return decorate


def job_function(name: str) -> JobFunction:
    found = _JOBS.get(name) or import_string(name)
    if not isinstance(found, JobFunction):
        raise TypeError(f"{name} is not a job")
    return found


def enqueue_existing(job: Job) -> None:
    """Hand a queued job to the task queue. The database backend writes the task row in the
    caller's transaction (both are kept or both rolled back); any other queue is told only
    after the commit, so a worker never looks for a job that is not there yet."""
    backend = execute_job.get_backend()
    queued = execute_job
    if backend.supports_defer and job.due_at > timezone.now():
        queued = execute_job.using(run_after=job.due_at)

    def send() -> None:
        result = queued.enqueue(str(job.pk))
        Job.objects.filter(pk=job.pk).update(task_result_id=str(result.id)[:64])

    if _runs_in_process(backend) or backend.__class__.__module__.startswith("django_tasks_db"):
        send()
    else:
        transaction.on_commit(send)


def _runs_in_process(backend) -> bool:
    return isinstance(backend, ImmediateBackend)


class JobContext:
    """What a running job function gets: its job, progress reports and the stop checks."""

    def __init__(self, job: Job, worker: str):
        self.job = job
        self.worker = worker
        self.started = time.monotonic()
        self.stop_reason: str | None = None  # "cancelled", "timed_out" or "lease_lost"
        self._on_stop: list[Callable[[], None]] = []
        self._last_checked = time.monotonic()

    @property
    def attempt(self) -> int:
        return self.job.attempts

    def progress(self, done: float, total: float | None = None, text: str = "") -> None:
        """Report progress (a fraction, or done of total) and check for a stop."""
        fraction = done / total if total else done
        self.job.report_progress(self.worker, fraction, text)
        self.check()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from another thread) when the job must stop: to interrupt a query
        the function is waiting on."""
        self._on_stop.append(callback)

    def check(self) -> None:
        """Raise when the job must stop. Cheap to call often: it reads the database at most
        once a second (the heartbeat reads it too)."""
        now = time.monotonic()
        if self.stop_reason is None and now - self._last_checked >= 1.0:
            self._last_checked = now
            self.poll()
        if self.stop_reason == "cancelled":
            raise Cancelled(_("Cancelled."))
        if self.stop_reason == "timed_out":
            raise TimeLimitExceeded(
                _("Stopped after its time limit of %(seconds)s seconds.")
                % {"seconds": self.job.time_limit}
            )
        if self.stop_reason == "lease_lost":
            raise Cancelled(_("Another worker took this job over."))

    def poll(self) -> None:
        """Look for a reason to stop: a cancel request, the time limit, or a lost lease."""
        if self.stop_reason:
            return
        if time.monotonic() - self.started > self.job.time_limit:
            self._stop("timed_out")
        elif self.job.cancel_was_requested():
            self._stop("cancelled")

    def renew(self) -> None:
        if not self.job.renew_lease(self.worker):
            self._stop("lease_lost")
        else:
            self.poll()

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        for callback in self._on_stop:
            try:
                callback()
            except Exception:
                logger.exception("A job's stop callback failed")


class Heartbeat(threading.Thread):
    """Renews a running job's lease and notices cancel requests and the time limit."""

    def __init__(self, ctx: JobContext, interval: float):
        super().__init__(name=f"job-heartbeat-{ctx.job.pk}", daemon=True)
        self.ctx = ctx
        self.interval = interval
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            while not self.finished.wait(self.interval):
                try:
                    self.ctx.renew()
                except Exception:
                    logger.exception("Renewing job %s's lease failed", self.ctx.job.pk)
        finally:
            connection.close()


@task()
def execute_job(job_id: str) -> str:
    """The queue's one task: run the job with this id, if it is still there to run."""
    return run_job(job_id, worker=worker_id())


def run_job(job_id: str, *, worker: str) -> str:
    now = timezone.now()
    claimed = Job.objects.filter(
        pk=job_id, status=Job.Status.QUEUED, due_at__lte=now + timedelta(seconds=1)
    ).update(
        status=Job.Status.RUNNING,
        lease_owner=worker,
        lease_expires_at=now + LEASE,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
    )
    if not claimed:
        # Finished, cancelled, taken by another worker, or not due yet: nothing to do here.
        return "skipped"
    job = Job.objects.get(pk=job_id)
    attempt = JobAttempt.objects.create(job=job, number=job.attempts, worker=worker)
    try:
        function = job_function(job.name)
    except (ImportError, TypeError) as error:
        # Code that no longer exists (renamed in a deploy): retrying cannot help.
        return _finish(job, attempt, worker, Job.Status.FAILED, JobAttempt.Outcome.FAILED, error)
    ctx = JobContext(job, worker)
    heartbeat = None
    if not _runs_in_process(execute_job.get_backend()):
        heartbeat = Heartbeat(ctx, interval=LEASE.total_seconds() / 3)
        heartbeat.start()
    try:
        result = function(ctx, *job.arguments)
        ctx.check()
    except Cancelled as error:
        return _finish(
            job, attempt, worker, Job.Status.CANCELLED, JobAttempt.Outcome.CANCELLED, error
        )
    except TimeLimitExceeded as error:
        return _finish(job, attempt, worker, Job.Status.FAILED, JobAttempt.Outcome.TIMED_OUT, error)
    except Exception as error:
        if isinstance(error, function.retry_on) and job.attempts < job.max_attempts:
            return _retry(job, attempt, worker, error)
        logger.exception("Job %s (%s) failed", job.pk, job.name)
        return _finish(job, attempt, worker, Job.Status.FAILED, JobAttempt.Outcome.FAILED, error)
    finally:
        if heartbeat:
            heartbeat.finished.set()
            heartbeat.join()
    return _finish(
        job, attempt, worker, Job.Status.SUCCEEDED, JobAttempt.Outcome.SUCCEEDED, None, result
    )


def _message(error: BaseException | None) -> str:
    if error is None:
        return ""
    return str(error) or error.__class__.__name__


def _finish(job, attempt, worker, status, outcome, error, result=None) -> str:
    now = timezone.now()
    fields = {
        "status": status,
        "error": _message(error),
        "finished_at": now,
        "lease_owner": "",
        "lease_expires_at": None,
    }
    if status == Job.Status.SUCCEEDED:
        fields.update(result=result, progress=1.0)
    # Only the lease holder records the outcome: a worker that lost its lease was replaced.
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, lease_owner=worker).update(**fields)
    JobAttempt.objects.filter(pk=attempt.pk).update(
        outcome=outcome, error=_message(error), finished_at=now
    )
    return str(status)


def _retry(job, attempt, worker, error) -> str:
    now = timezone.now()
    due_at = now + retry_delay(job.attempts)
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, lease_owner=worker).update(
        status=Job.Status.QUEUED,
        error=_message(error),
        lease_owner="",
        lease_expires_at=None,
        due_at=due_at,
    )
    JobAttempt.objects.filter(pk=attempt.pk).update(
        outcome=JobAttempt.Outcome.RETRYING, error=_message(error), finished_at=now
    )
    if updated:
        job.refresh_from_db()
        if _runs_in_process(execute_job.get_backend()):
            # Nothing runs later in-process: tests see the next attempt at once.
            Job.objects.filter(pk=job.pk).update(due_at=now)
            job.due_at = now
        enqueue_existing(job)
    return "retrying"


@dataclass
class Periodic:
    func: Callable[[], Any]
    seconds: float
    last_run: float = field(default=0.0)


_PERIODIC: list[Periodic] = []


def every(seconds: float) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Run a function in every worker every `seconds` (e.g. enqueue due schedules). It runs in
    several workers at once, so it must be safe to: take work with conditional UPDATEs."""

    def decorate(func: Callable[[], Any]) -> Callable[[], Any]:
        _PERIODIC.append(Periodic(func, seconds))
        return func

    return decorate


@every(seconds=5)
def recover_jobs() -> None:
    Job.objects.recover()


def run_periodic(now: float | None = None) -> None:
    now = time.monotonic() if now is None else now
    for periodic in _PERIODIC:
        if now - periodic.last_run >= periodic.seconds:
            periodic.last_run = now
            try:
                periodic.func()
            except Exception:
                logger.exception("Periodic %s failed", periodic.func.__qualname__)
