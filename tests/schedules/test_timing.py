"""Next-run computation for each kind, across DST changes and month ends (settings.TIME_ZONE)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from apps.schedules.models import Schedule

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def local(*args, fold=0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN, fold=fold)


def elapsed(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    # Real time: Python subtracts wall-clock times of one time zone.
    return end.astimezone(UTC) - start.astimezone(UTC)


def schedule(**fields) -> Schedule:
    return Schedule(**fields)


def runs(s: Schedule, start: dt.datetime, n: int) -> list[dt.datetime]:
    found, at = [], start
    for _ in range(n):
        at = s.next_run_after(at)
        found.append(at.astimezone(BERLIN))
    return found


def test_every_minutes_counts_real_minutes_across_the_spring_change():
    s = schedule(kind="minutes", every_minutes=30)
    found = runs(s, local(2026, 3, 29, 1, 10), 3)
    # 01:30 CET, then the clock jumps from 02:00 to 03:00: 03:00 and 03:30 CEST.
    assert [t.strftime("%H:%M %Z") for t in found] == ["01:30 CET", "03:00 CEST", "03:30 CEST"]
    assert elapsed(found[0], found[1]) == dt.timedelta(minutes=30)


def test_every_minutes_runs_through_the_repeated_autumn_hour():
    s = schedule(kind="minutes", every_minutes=60)
    found = runs(s, local(2026, 10, 25, 1, 30), 3)
    assert [t.strftime("%H:%M %Z") for t in found] == ["02:00 CEST", "02:00 CET", "03:00 CET"]


def test_hourly_at_a_minute_runs_every_local_hour_including_the_repeated_one():
    s = schedule(kind="hourly", minute=15)
    found = runs(s, local(2026, 10, 25, 1, 20), 3)
    assert [t.strftime("%H:%M %Z") for t in found] == ["02:15 CEST", "02:15 CET", "03:15 CET"]


def test_hourly_skips_the_missing_spring_hour():
    s = schedule(kind="hourly", minute=15)
    found = runs(s, local(2026, 3, 29, 1, 20), 2)
    assert [t.strftime("%H:%M %Z") for t in found] == ["03:15 CEST", "04:15 CEST"]


def test_daily_keeps_the_wall_clock_time_across_dst():
    s = schedule(kind="daily", time_of_day=dt.time(9, 0))
    found = runs(s, local(2026, 3, 28, 10, 0), 2)
    assert [t.strftime("%Y-%m-%d %H:%M %Z") for t in found] == [
        "2026-03-29 09:00 CEST",
        "2026-03-30 09:00 CEST",
    ]
    # 23 hours between the two 09:00s around the change, not 24.
    before = s.next_run_after(local(2026, 3, 28, 8, 0))
    assert elapsed(before, found[0]) == dt.timedelta(hours=23)


def test_daily_at_a_skipped_time_runs_once_that_day():
    s = schedule(kind="daily", time_of_day=dt.time(2, 30))
    found = runs(s, local(2026, 3, 28, 12, 0), 2)
    assert [t.strftime("%Y-%m-%d %H:%M %Z") for t in found] == [
        "2026-03-29 03:30 CEST",
        "2026-03-30 02:30 CEST",
    ]


def test_daily_at_a_repeated_time_runs_once_that_day():
    s = schedule(kind="daily", time_of_day=dt.time(2, 30))
    found = runs(s, local(2026, 10, 24, 12, 0), 2)
    assert [t.strftime("%Y-%m-%d %H:%M %Z") for t in found] == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]


def test_daily_crosses_month_and_year_ends():
    s = schedule(kind="daily", time_of_day=dt.time(23, 45))
    found = runs(s, local(2026, 12, 31, 23, 50), 1)
    assert found[0] == local(2027, 1, 1, 23, 45)
    assert runs(s, local(2028, 2, 28, 23, 50), 1)[0] == local(2028, 2, 29, 23, 45)


def test_weekly_on_a_weekday_at_a_time():
    s = schedule(kind="weekly", weekday=Schedule.Weekday.MONDAY, time_of_day=dt.time(8, 0))
    # Thursday 2026-10-22: the next Monday is the 26th, after the autumn change.
    found = runs(s, local(2026, 10, 22, 12, 0), 2)
    assert found == [local(2026, 10, 26, 8, 0), local(2026, 11, 2, 8, 0)]
    assert found[0].utcoffset() == dt.timedelta(hours=1)


def test_weekly_on_the_same_day_later_runs_today():
    s = schedule(kind="weekly", weekday=Schedule.Weekday.MONDAY, time_of_day=dt.time(18, 0))
    assert runs(s, local(2026, 10, 26, 9, 0), 1) == [local(2026, 10, 26, 18, 0)]


def test_cron_on_the_last_days_of_months():
    s = schedule(kind="cron", cron="0 6 31 * *")
    found = runs(s, local(2026, 1, 31, 7, 0), 3)
    assert found == [local(2026, 3, 31, 6, 0), local(2026, 5, 31, 6, 0), local(2026, 7, 31, 6, 0)]


def test_cron_with_a_fixed_hour_runs_once_in_the_repeated_hour():
    s = schedule(kind="cron", cron="30 2 * * *")
    found = runs(s, local(2026, 10, 25, 0, 0), 2)
    assert [t.strftime("%Y-%m-%d %H:%M %Z") for t in found] == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]


def test_cron_with_a_wildcard_hour_runs_in_both_repeated_hours():
    s = schedule(kind="cron", cron="30 * * * *")
    found = runs(s, local(2026, 10, 25, 2, 0), 2)
    assert [t.strftime("%H:%M %Z") for t in found] == ["02:30 CEST", "02:30 CET"]


def test_cron_across_the_spring_change():
    s = schedule(kind="cron", cron="0 * * * *")
    found = runs(s, local(2026, 3, 29, 1, 30), 2)
    assert [t.strftime("%H:%M %Z") for t in found] == ["03:00 CEST", "04:00 CEST"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "minutes"}, "every_minutes"),
        ({"kind": "hourly"}, "minute"),
        ({"kind": "daily"}, "time_of_day"),
        ({"kind": "weekly", "time_of_day": dt.time(8)}, "weekday"),
        ({"kind": "cron"}, "cron"),
        ({"kind": "cron", "cron": "61 * * * *"}, "cron"),
        ({"kind": "cron", "cron": "every day"}, "cron"),
    ],
)
def test_clean_names_the_missing_or_bad_field(fields, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        Schedule(**fields).clean()
    assert field in caught.value.message_dict
