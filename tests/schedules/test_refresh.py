"""Due schedules are claimed once, refreshed as their owner, and pause after failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from apps.jobs.models import Job
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.notifications.models import Notification
from apps.schedules import services, tasks
from apps.schedules.models import Refresh, Schedule
from tests.conftest import share
from tests.schedules.factories import (
    ORDERS_BY_STATUS,
    AlertFactory,
    ScheduleFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def make_due(schedule: Schedule, ago: int = 5) -> dt.datetime:
    due = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=ago)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=due, enabled=True)
    return due


def test_a_due_schedule_refreshes_the_artifact_as_its_owner(schedule, owner):
    make_due(schedule)
    assert tasks.enqueue_due_schedules() == 1
    run = ArtifactRun.objects.get(artifact=schedule.artifact)
    assert run.user == owner and run.outcome == "ok" and run.row_count == 6
    # The artifact's latest result is this run's: the page opens on its rows.
    assert run.snapshot[0] == ["cancelled", 1]
    assert Artifact.objects.get(pk=schedule.artifact.pk).execution_count == 1
    schedule.refresh_from_db()
    assert schedule.last_outcome == "ok" and schedule.consecutive_failures == 0
    assert schedule.next_run_at > timezone.now()
    assert Refresh.objects.get(schedule=schedule).run == run


def test_a_schedule_not_yet_due_is_left_alone(schedule):
    schedule.save_with_timetable()
    assert tasks.enqueue_due_schedules() == 0
    assert not ArtifactRun.objects.exists()


def test_a_paused_schedule_does_not_run(schedule):
    make_due(schedule)
    schedule.pause("Testing")
    assert tasks.enqueue_due_schedules() == 0


def test_two_workers_claiming_the_same_due_run_enqueue_it_once(schedule):
    due = make_due(schedule)
    now = timezone.now()
    # Both workers read the schedule before either claims it.
    first, second = Schedule.objects.get(pk=schedule.pk), Schedule.objects.get(pk=schedule.pk)
    assert first.claim(now) == due
    assert second.claim(now) is None
    # And through the periodic pass, twice (a second worker right after the first).
    make_due(schedule, ago=60)
    assert tasks.enqueue_due_schedules() == 1
    assert tasks.enqueue_due_schedules() == 0
    assert Job.objects.filter(name__endswith="refresh_schedule").count() == 1


def test_missed_runs_are_not_caught_up(schedule):
    make_due(schedule, ago=3600)  # an hour of missed minutes while no worker ran
    assert tasks.enqueue_due_schedules() == 1
    assert ArtifactRun.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now()


def break_sql(schedule: Schedule) -> None:
    Artifact.objects.filter(pk=schedule.artifact_id).update(
        sql_query="SELECT status FROM no_such_table WHERE :since IS NOT NULL"
    )


def test_repeated_failures_pause_the_schedule_and_tell_its_owner_once(schedule, owner):
    break_sql(schedule)
    for minutes_ago in (30, 20, 10):
        make_due(schedule, ago=minutes_ago * 60)
        assert tasks.enqueue_due_schedules() == 1
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    assert "3 failed refreshes" in schedule.paused_reason
    assert "no_such_table" in schedule.last_error
    paused = Notification.objects.filter(user=owner, key__startswith=f"schedule:{schedule.pk}:")
    assert paused.count() == 1
    assert len(mail.outbox) == 1 and "paused" in mail.outbox[0].subject.lower()
    # Paused: no more runs, no more notices.
    make_due(schedule)
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    assert tasks.enqueue_due_schedules() == 0
    assert Notification.objects.filter(user=owner).count() == 1


def test_a_good_run_resets_the_failure_count(schedule):
    break_sql(schedule)
    make_due(schedule, ago=120)
    tasks.enqueue_due_schedules()
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 1 and schedule.last_outcome == "failed"
    Artifact.objects.filter(pk=schedule.artifact_id).update(sql_query=ORDERS_BY_STATUS)
    make_due(schedule)
    tasks.enqueue_due_schedules()
    schedule.refresh_from_db()
    assert schedule.consecutive_failures == 0 and schedule.last_outcome == "ok"


def test_an_owner_who_lost_access_gets_a_failed_refresh(owner, group_editor, team, editors):
    schedule = ScheduleFactory(artifact__owner=owner, owner=group_editor)
    share(schedule.artifact, team, editors, edit=[editors])
    schedule.artifact.shares.all().delete()
    make_due(schedule)
    tasks.enqueue_due_schedules()
    schedule.refresh_from_db()
    assert schedule.last_outcome == "failed"
    assert "may no longer run" in schedule.last_error
    assert not ArtifactRun.objects.exists()


def test_a_refresh_job_that_runs_twice_runs_once_and_notifies_once(schedule, owner):
    alert = AlertFactory(schedule=schedule)
    SubscriptionFactory(alert=alert, user=owner, channel="in_app")
    SubscriptionFactory(alert=alert, user=owner, channel="email")
    due = make_due(schedule)
    services.refresh_schedule(schedule.pk, due)
    # The worker died after the run; another worker runs the same job again.
    Refresh.objects.filter(schedule=schedule).update(outcome="ok")
    services.refresh_schedule(schedule.pk, due)
    assert ArtifactRun.objects.count() == 1
    assert Notification.objects.filter(user=owner).count() == 1
    assert len(mail.outbox) == 1


def test_a_job_that_died_before_telling_anyone_tells_them_on_its_next_attempt(schedule, owner):
    alert = AlertFactory(schedule=schedule)
    due = make_due(schedule)
    services.refresh_schedule(schedule.pk, due)  # nobody subscribed yet: nothing sent
    SubscriptionFactory(alert=alert, user=owner, channel="in_app")
    services.refresh_schedule(schedule.pk, due)
    assert ArtifactRun.objects.count() == 1
    assert Notification.objects.get(user=owner).title.startswith("Alert Cancelled orders")


def test_run_now_refreshes_at_once(schedule):
    tasks.run_now(schedule)
    assert ArtifactRun.objects.filter(artifact=schedule.artifact).count() == 1
