"""When a schedule runs next: wall-clock times in settings.TIME_ZONE, safe across DST.

Daily and weekly times are local wall-clock times: a time that does not exist on a day (the
hour the clocks skip in spring) runs at the offset from before the change (02:30 runs at
03:30 of the new clock); a time that happens twice (the hour repeated in autumn) runs once,
at its first occurrence. "Every N minutes" counts real minutes (UTC), so a DST change
neither doubles nor skips a run. Hourly runs at minute M of every local hour, however long
the local day is. Cron expressions are read by croniter in the local time zone; as with
classic cron, an expression with a fixed hour runs once in a repeated hour, one with a
wildcard hour runs in both.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from django.conf import settings

UTC = dt.UTC
EPOCH = dt.datetime(2000, 1, 1, tzinfo=UTC)


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def cron_problem(expression: str) -> str:
    """Why `expression` is not a usable five-field cron expression ("" when it is)."""
    if len(expression.split()) != 5:
        return "A cron expression has five fields: minute hour day month weekday."
    try:
        croniter(expression)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        return f"Not a valid cron expression: {exc}"
    return ""


def next_every_minutes(after: dt.datetime, minutes: int) -> dt.datetime:
    """The next multiple of `minutes` real minutes (counted from 2000-01-01 UTC) after `after`."""
    step = dt.timedelta(minutes=minutes)
    elapsed = after.astimezone(UTC) - EPOCH
    return EPOCH + (elapsed // step + 1) * step


def next_hourly(after: dt.datetime, minute: int, zone: ZoneInfo) -> dt.datetime:
    """The first instant after `after` whose local minute is `minute` (every local hour,
    including both of a repeated hour and offsets that are not whole hours)."""
    candidate = after.astimezone(UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for _ in range(24 * 60):
        if candidate.astimezone(zone).minute == minute:
            return candidate
        candidate += dt.timedelta(minutes=1)
    raise ValueError("No such minute in the next day.")  # pragma: no cover - a minute 0..59


def wall_time(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """`at` on `day` in `zone`, as a UTC instant: fold=0 takes the first of a repeated time,
    and a skipped time keeps the offset from before the change (the moment of the jump)."""
    local = dt.datetime.combine(day, at.replace(second=0, microsecond=0, tzinfo=zone, fold=0))
    return local.astimezone(UTC)


def next_daily(
    after: dt.datetime, at: dt.time, zone: ZoneInfo, weekday: int | None = None
) -> dt.datetime:
    """The next `at` local time after `after`, on `weekday` (Monday 0) when given."""
    day = after.astimezone(zone).date() - dt.timedelta(days=1)
    for _ in range(16):
        if weekday is None or day.weekday() == weekday:
            candidate = wall_time(day, at, zone)
            if candidate > after:
                return candidate
        day += dt.timedelta(days=1)
    raise ValueError("No such day in the next two weeks.")  # pragma: no cover


def next_cron(after: dt.datetime, expression: str, zone: ZoneInfo) -> dt.datetime:
    fixed_hour = "*" not in expression.split()[1]
    try:
        times = croniter(expression, after.astimezone(zone))
        found = times.get_next(dt.datetime)
        # The second pass through a repeated hour (fold=1) is the same wall-clock time again.
        while fixed_hour and _is_repeat(found.astimezone(zone)):
            found = times.get_next(dt.datetime)
    except CroniterBadDateError as exc:
        raise ValueError(f"This cron expression never runs: {exc}") from None
    return found.astimezone(UTC)


def _is_repeat(local: dt.datetime) -> bool:
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
