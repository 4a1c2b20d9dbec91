"""Two workers running the periodic pass at the same moment, on their own connections: the
due run is enqueued once. Needs a database that several connections share (the PostgreSQL app
database; SQLite's in-memory test database is one connection)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from apps.jobs.models import Job
from apps.schedules import tasks
from apps.schedules.models import Refresh, Schedule

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Needs several connections: PostgreSQL app database"
)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_enqueue_a_due_run_once(schedule):
    now = timezone.now()
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=now)
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        try:
            start.wait()
            counts.append(tasks.enqueue_due_schedules(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(counts) == [0, 1]
    assert Job.objects.filter(name__endswith="refresh_schedule").count() == 1
    assert Refresh.objects.filter(schedule=schedule).count() == 1
