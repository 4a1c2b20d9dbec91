"""Relative dates: defaults such as `today` or `start_of_month -1 month` that a date
parameter takes anew on every run.

An expression is an anchor, then any number of offsets applied left to right:

    anchor   today | yesterday | start_of_week | start_of_month | start_of_quarter
             | start_of_year                         (weeks start on Monday, as ISO 8601)
    offset   +N or -N, then day(s), week(s), month(s), quarter(s) or year(s)

An expression of offsets only counts from today (`-7 days`). Months, quarters and years
clamp the day to the end of a shorter month (Jan 31 -1 month is Dec 31, Mar 31 -1 month is
Feb 28 or 29): dateutil's relativedelta does the calendar arithmetic. "Today" is the date in
the configured time zone (settings.TIME_ZONE) when the artifact runs, so "last month" is
`start_of_month -1 month` to `start_of_month` wherever the server is.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from django.utils import timezone

ANCHORS = (
    "today",
    "yesterday",
    "start_of_week",
    "start_of_month",
    "start_of_quarter",
    "start_of_year",
)
UNITS = ("day", "week", "month", "quarter", "year")
# More than enough for any period a report asks for, and small enough that the arithmetic
# cannot run away (9999 years from any date leaves the calendar and is refused).
MAX_AMOUNT_DIGITS = 4
# Room for an anchor and a handful of offsets; an input is never asked to hold more.
MAX_EXPRESSION_LENGTH = 100

_ANCHOR_RE = re.compile(r"\s*([a-z_]+)")
_OFFSET_RE = re.compile(rf"\s*([+-])\s*(\d{{1,{MAX_AMOUNT_DIGITS}}})\s*([a-z]+)")
EXAMPLES = "today, yesterday, start_of_month, start_of_month -1 month, -7 days"


@dataclass(frozen=True)
class RelativeDate:
    anchor: str
    # (signed amount, unit in the singular), applied in order.
    offsets: tuple[tuple[int, str], ...] = ()

    def resolve(self, today: dt.date | None = None) -> dt.date:
        """The date this expression means on `today` (the local date by default).

        Raises ValueError when it falls outside the calendar (years 1 to 9999)."""
        day = today or local_today()
        try:
            day = _ANCHOR_DATES[self.anchor](day)
            for amount, unit in self.offsets:
                day = day + _delta(amount, unit)
        except (OverflowError, ValueError):
            raise ValueError(f"{self} falls outside the calendar (years 1 to 9999)") from None
        return day

    def __str__(self) -> str:
        parts = [self.anchor] if self.anchor != "today" or not self.offsets else []
        parts += [f"{amount:+d} {unit}{'' if abs(amount) == 1 else 's'}" for amount, unit in self]
        return " ".join(parts)

    def __iter__(self):
        return iter(self.offsets)


def local_today() -> dt.date:
    """Today in the configured time zone: the date a relative default is evaluated on."""
    return timezone.localdate()


def parse_relative_date(text: object) -> RelativeDate:
    """The expression `text` writes, or ValueError saying what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError("a relative date is text")
    source = text.strip().lower()
    if not source:
        raise ValueError("a relative date is not empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"a relative date has at most {MAX_EXPRESSION_LENGTH} characters")
    position = 0
    anchor = "today"
    match = _ANCHOR_RE.match(source)
    if match:
        word = match.group(1)
        if word not in ANCHORS:
            raise ValueError(f"unknown word {word!r}; start with one of {', '.join(ANCHORS)}")
        anchor, position = word, match.end()
    offsets: list[tuple[int, str]] = []
    while position < len(source):
        match = _OFFSET_RE.match(source, position)
        if not match:
            rest = source[position:].strip()
            raise ValueError(
                f"cannot read {rest[:30]!r}; offsets are written +N or -N then "
                f"{', '.join(UNITS[:-1])} or {UNITS[-1]}, e.g. -7 days or +1 month"
            )
        sign, digits, word = match.groups()
        unit = word[:-1] if word.endswith("s") else word
        if unit not in UNITS:
            raise ValueError(f"unknown unit {word!r}; use {', '.join(UNITS)} (or plurals)")
        offsets.append((int(digits) * (-1 if sign == "-" else 1), unit))
        position = match.end()
    return RelativeDate(anchor, tuple(offsets))


def resolve_relative_date(text: str, today: dt.date | None = None) -> dt.date:
    """`text` as a relative date evaluated on `today`; ValueError when it is not one."""
    return parse_relative_date(text).resolve(today)


def _start_of_quarter(day: dt.date) -> dt.date:
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


_ANCHOR_DATES = {
    "today": lambda day: day,
    "yesterday": lambda day: day - dt.timedelta(days=1),
    "start_of_week": lambda day: day - dt.timedelta(days=day.weekday()),
    "start_of_month": lambda day: day.replace(day=1),
    "start_of_quarter": _start_of_quarter,
    "start_of_year": lambda day: day.replace(month=1, day=1),
}


def _delta(amount: int, unit: str) -> relativedelta:
    if unit == "quarter":
        return relativedelta(months=3 * amount)
    return relativedelta(**{f"{unit}s": amount})
