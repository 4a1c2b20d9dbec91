"""The schedules' background work: every worker enqueues due schedules; a refresh job runs
one due run of one schedule (apps/schedules/services.py)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.jobs.runner import JobContext, every, job
from apps.schedules import services
from apps.schedules.models import Schedule

# Schedules enqueued per pass and worker: the rest wait five seconds, not a minute.
BATCH = 200


@job(time_limit=3600, max_attempts=3)
def refresh_schedule(ctx: JobContext, schedule_id: int, due_at: str) -> dict:
    ctx.progress(0.0, text="Refreshing")
    return services.refresh_schedule(schedule_id, dt.datetime.fromisoformat(due_at))


def refresh_key(schedule_id: int, due_at: dt.datetime) -> str:
    return f"schedule:{schedule_id}:{due_at.isoformat()}"


def enqueue_due_schedules(now: dt.datetime | None = None) -> int:
    """Enqueue a refresh for every due schedule; returns how many this call enqueued.

    Several workers run this at once: each due run is claimed by a conditional UPDATE of
    next_run_at (Schedule.claim), so only one of them enqueues it; the job's key (schedule and
    due time) would also fold a second enqueue into the first.
    """
    now = now or timezone.now()
    enqueued = 0
    for schedule in Schedule.objects.due(now).order_by("next_run_at")[:BATCH]:
        with transaction.atomic():
            due = schedule.claim(now)
            if due is None:
                continue
            refresh_schedule.enqueue(
                schedule.pk, due.isoformat(), key=refresh_key(schedule.pk, due)
            )
        enqueued += 1
    return enqueued


def run_now(schedule: Schedule, user=None):
    """An operator's or owner's "Run now": one refresh due now, outside the timetable."""
    due = timezone.now().replace(microsecond=0)
    return refresh_schedule.enqueue(
        schedule.pk, due.isoformat(), key=refresh_key(schedule.pk, due), requested_by=user
    )


@every(seconds=5)
def enqueue_due() -> None:
    enqueue_due_schedules()
