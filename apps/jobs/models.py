"""Background jobs: what the workers do, as records people and operators can see.

The task queue (Django's Tasks API: django-tasks with the database backend, or RQ) only
carries a job's id. The `Job` row is the truth about the work: who asked for it, its progress,
whether someone asked to cancel it, how many attempts it took (`JobAttempt`), its result or
error, and which worker holds it. A worker holds a job through a *lease* it renews while the job
runs; a job whose lease lapsed (its worker died) is taken up again by `Job.objects.recover()`,
which every worker runs, so the work is never lost and never done by two workers at once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobQuerySet(models.QuerySet):
    def unfinished(self) -> JobQuerySet:
        return self.filter(status__in=Job.UNFINISHED)

    def lapsed(self, now=None) -> JobQuerySet:
        """Running jobs whose worker stopped renewing the lease (it died or hangs)."""
        now = now or timezone.now()
        return self.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now)

    def stranded(self, now=None) -> JobQuerySet:
        """Queued jobs that are due but that no worker took for a while.

        Enqueueing on a queue other than the database's can be lost (Redis restarted between
        the commit and the enqueue); a second enqueue is harmless because taking a job is one
        conditional UPDATE of its row.
        """
        now = now or timezone.now()
        return self.filter(status=Job.Status.QUEUED, due_at__lt=now - STRANDED_AFTER)

    def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status, in one query: {"queued": 3, "running": 1, ...}."""
        return self.aggregate(
            **{status: models.Count("pk", filter=Q(status=status)) for status in Job.Status.values}
        )

    def recover(self) -> list[Job]:
        """Give lapsed jobs another attempt (or fail them when they had their attempts), and
        enqueue stranded ones again. Returns the jobs it enqueued; safe to run from every worker
        at once: each change is conditional on the state it read."""
        from apps.jobs.runner import enqueue_existing

        now = timezone.now()
        requeued = []
        for job in self.lapsed(now):
            if job.release_lapsed(now) and job.status == Job.Status.QUEUED:
                requeued.append(job)
        requeued.extend(self.stranded(now))
        for job in requeued:
            enqueue_existing(job)
        return requeued


# A worker renews its lease every LEASE_SECONDS / 3; one that missed three renewals is gone.
LEASE = timedelta(seconds=getattr(settings, "JOBS_LEASE_SECONDS", 15))
STRANDED_AFTER = timedelta(minutes=2)


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The dotted path of the job function (a function decorated with @job in an app's tasks.py).
    name = models.CharField(_("job"), max_length=200, db_index=True)
    # Ids and plain values only: a job reads its objects fresh when it runs.
    arguments = models.JSONField(_("arguments"), default=list, blank=True)
    # Enqueueing the same key again returns the existing unfinished job instead of a second
    # one (one refresh per schedule and minute, one delivery per alert and run).
    key = models.CharField(_("idempotency key"), max_length=200, blank=True, default="")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    # Who asked for it; None for the system's own work (a schedule's owner is on the schedule).
    # Deleting a user cancels what they asked for by deleting it.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jobs",
    )
    queue_name = models.CharField(_("queue"), max_length=64, default="default")
    progress = models.FloatField(_("progress"), default=0.0)
    progress_text = models.CharField(_("progress note"), max_length=200, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("max attempts"), default=3)
    time_limit = models.PositiveIntegerField(_("time limit (seconds)"), default=600)
    lease_owner = models.CharField(_("worker"), max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    cancel_requested_at = models.DateTimeField(_("cancel requested"), null=True, blank=True)
    # When the job may run: now, or later for a retry's back-off.
    due_at = models.DateTimeField(_("due"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The task queue's id for the latest enqueue, for operators to find it in the queue.
    task_result_id = models.CharField(max_length=64, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        constraints = [
            models.UniqueConstraint(
                fields=["name", "key"],
                condition=~Q(key="") & Q(status__in=["queued", "running"]),
                name="job_key_unique_while_unfinished",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_0_1"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "lease_expires_at"],
                condition=Q(status__in=["queued", "running"]),
                name="job_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.UNFINISHED

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1].replace("_", " ")

    def request_cancel(self) -> bool:
        """Cancel a queued job at once; ask a running one to stop (its worker sees the request
        at its next lease renewal or progress report). False when it already finished."""
        now = timezone.now()
        if Job.objects.filter(pk=self.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, cancel_requested_at=now, finished_at=now
        ):
            self.refresh_from_db()
            return True
        updated = Job.objects.filter(pk=self.pk, status=Job.Status.RUNNING).update(
            cancel_requested_at=now
        )
        self.refresh_from_db()
        return bool(updated)

    def retry(self) -> bool:
        """An operator's retry of a failed or cancelled job: a fresh set of attempts."""
        from apps.jobs.runner import enqueue_existing

        updated = Job.objects.filter(
            pk=self.pk, status__in=[Job.Status.FAILED, Job.Status.CANCELLED]
        ).update(
            status=Job.Status.QUEUED,
            attempts=0,
            error="",
            progress=0.0,
            progress_text="",
            cancel_requested_at=None,
            finished_at=None,
            due_at=timezone.now(),
        )
        if updated:
            self.refresh_from_db()
            enqueue_existing(self)
        return bool(updated)

    def release_lapsed(self, now) -> bool:
        """The worker holding this job is gone: queue it for another attempt, or fail it when
        it has had all of them. Only one caller wins (the UPDATE is conditional on the lease
        it saw)."""
        out_of_attempts = self.attempts >= self.max_attempts
        status = Job.Status.FAILED if out_of_attempts else Job.Status.QUEUED
        error = _("The worker running it stopped (%(worker)s).") % {"worker": self.lease_owner}
        updated = Job.objects.filter(
            pk=self.pk,
            status=Job.Status.RUNNING,
            lease_owner=self.lease_owner,
            lease_expires_at=self.lease_expires_at,
        ).update(
            status=status,
            lease_owner="",
            lease_expires_at=None,
            error=str(error),
            due_at=now,
            finished_at=now if out_of_attempts else None,
        )
        if updated:
            JobAttempt.objects.filter(job=self, outcome=JobAttempt.Outcome.RUNNING).update(
                outcome=JobAttempt.Outcome.LOST, finished_at=now, error=str(error)
            )
            self.status = status
        return bool(updated)

    def renew_lease(self, worker: str) -> bool:
        """Extend this worker's lease; False when it lost it (another worker took the job
        after the lease lapsed), in which case the worker must stop writing."""
        return bool(
            Job.objects.filter(pk=self.pk, status=Job.Status.RUNNING, lease_owner=worker).update(
                lease_expires_at=timezone.now() + LEASE
            )
        )

    def report_progress(self, worker: str, fraction: float, text: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        Job.objects.filter(pk=self.pk, lease_owner=worker).update(
            progress=fraction,
            progress_text=text[:200],
            lease_expires_at=timezone.now() + LEASE,
        )
        self.progress, self.progress_text = fraction, text[:200]

    def cancel_was_requested(self) -> bool:
        return Job.objects.filter(pk=self.pk, cancel_requested_at__isnull=False).exists()


class JobAttempt(models.Model):
    """One try at a job by one worker: when, where, and how it ended."""

    class Outcome(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        RETRYING = "retrying", _("Failed, will retry")
        CANCELLED = "cancelled", _("Cancelled")
        TIMED_OUT = "timed_out", _("Time limit exceeded")
        # The worker died or stopped renewing its lease; another attempt takes over.
        LOST = "lost", _("Worker lost")

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField(_("attempt"))
    worker = models.CharField(_("worker"), max_length=100)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.RUNNING
    )
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["job", "number"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self) -> str:
        return f"#{self.number} {self.get_outcome_display()}"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None
