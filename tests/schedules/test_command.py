"""manage.py schedules list|pause <id>|resume <id>."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.schedules.factories import ScheduleFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("schedules", *args, stdout=out)
    return out.getvalue()


def test_list_shows_each_schedule_with_its_state_and_last_outcome(schedule):
    schedule.save_with_timetable()
    paused = ScheduleFactory(kind="daily", every_minutes=None, time_of_day="06:00")
    paused.pause("Too noisy")
    out = run("list")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "ARTIFACT", "TIMETABLE"]
    assert "every minute" in out and "active" in out and "Not run yet" in out
    assert "paused: Too noisy" in out and "daily at 06:00" in out
    only_paused = run("list", "--paused")
    assert "Too noisy" in only_paused and "every minute" not in only_paused


def test_pause_and_resume(schedule):
    schedule.save_with_timetable()
    assert f"Paused schedule {schedule.pk}" in run("pause", str(schedule.pk))
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    with pytest.raises(CommandError, match="already paused"):
        run("pause", str(schedule.pk))
    assert f"Resumed schedule {schedule.pk}" in run("resume", str(schedule.pk))
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None


def test_an_unknown_id_is_an_error():
    with pytest.raises(CommandError, match="No schedule with id 999"):
        run("pause", "999")


def test_list_without_schedules():
    assert run("list").strip() == "No schedules."
