"""Relative date defaults: `today`, `start_of_month -1 month` and the like are evaluated on
the local date when an artifact runs, and the run records the concrete dates."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.llm_artifact.models import ArtifactRun
from apps.llm_artifact.parameters import (
    describe_parameters,
    resolve_values,
    validate_declarations,
)
from apps.llm_artifact.relative_dates import (
    ANCHORS,
    UNITS,
    local_today,
    parse_relative_date,
    resolve_relative_date,
)
from tests.llm_artifact.factories import ArtifactFactory

D = dt.date
HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize(
    ("expression", "today", "expected"),
    [
        # The anchors on an ordinary day (Wednesday 2024-05-15).
        ("today", D(2024, 5, 15), D(2024, 5, 15)),
        ("yesterday", D(2024, 5, 15), D(2024, 5, 14)),
        ("start_of_week", D(2024, 5, 15), D(2024, 5, 13)),
        ("start_of_month", D(2024, 5, 15), D(2024, 5, 1)),
        ("start_of_quarter", D(2024, 5, 15), D(2024, 4, 1)),
        ("start_of_year", D(2024, 5, 15), D(2024, 1, 1)),
        # On the first day of each period, the anchor is that day.
        ("start_of_week", D(2024, 5, 13), D(2024, 5, 13)),
        ("start_of_month", D(2024, 5, 1), D(2024, 5, 1)),
        ("start_of_quarter", D(2024, 4, 1), D(2024, 4, 1)),
        ("start_of_year", D(2024, 1, 1), D(2024, 1, 1)),
        # On the last day of a period, still that period.
        ("start_of_week", D(2024, 5, 19), D(2024, 5, 13)),  # Sunday
        ("start_of_month", D(2024, 1, 31), D(2024, 1, 1)),
        ("start_of_quarter", D(2024, 3, 31), D(2024, 1, 1)),
        ("start_of_quarter", D(2024, 6, 30), D(2024, 4, 1)),
        ("start_of_quarter", D(2024, 9, 30), D(2024, 7, 1)),
        ("start_of_quarter", D(2024, 12, 31), D(2024, 10, 1)),
        ("start_of_year", D(2024, 12, 31), D(2024, 1, 1)),
        # Across the year boundary.
        ("yesterday", D(2025, 1, 1), D(2024, 12, 31)),
        ("start_of_week", D(2025, 1, 1), D(2024, 12, 30)),
        ("start_of_month -1 month", D(2025, 1, 20), D(2024, 12, 1)),
        ("start_of_quarter -1 quarter", D(2025, 2, 10), D(2024, 10, 1)),
        ("start_of_quarter -2 quarters", D(2025, 2, 10), D(2024, 7, 1)),
        ("start_of_year -1 year", D(2025, 2, 10), D(2024, 1, 1)),
        ("-7 days", D(2025, 1, 3), D(2024, 12, 27)),
        ("+1 week", D(2024, 12, 28), D(2025, 1, 4)),
        # Month arithmetic clamps the day to the shorter month.
        ("today -1 month", D(2025, 1, 31), D(2024, 12, 31)),
        ("today -1 month", D(2024, 3, 31), D(2024, 2, 29)),  # leap year
        ("today -1 month", D(2023, 3, 31), D(2023, 2, 28)),
        ("today +1 month", D(2024, 1, 31), D(2024, 2, 29)),
        ("today -1 quarter", D(2024, 5, 31), D(2024, 2, 29)),
        ("today -1 year", D(2024, 2, 29), D(2023, 2, 28)),
        ("today +4 years", D(2024, 2, 29), D(2028, 2, 29)),
        ("yesterday -1 month", D(2024, 3, 1), D(2024, 1, 29)),
        # Offsets apply left to right: the clamp happens before the days are added.
        ("today -1 month +1 day", D(2024, 3, 31), D(2024, 3, 1)),
        ("today +1 day -1 month", D(2024, 3, 31), D(2024, 3, 1)),
        ("start_of_month -1 day", D(2024, 3, 15), D(2024, 2, 29)),
        # Written loosely: case, spaces, singular or plural.
        ("  Start_Of_Month   -1   months ", D(2024, 5, 15), D(2024, 4, 1)),
        ("start_of_month-1month", D(2024, 5, 15), D(2024, 4, 1)),
        ("-1 days", D(2024, 5, 15), D(2024, 5, 14)),
        ("+2 weeks -1 day", D(2024, 5, 15), D(2024, 5, 28)),
    ],
)
def test_every_expression_on_every_boundary(expression, today, expected):
    assert resolve_relative_date(expression, today) == expected


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("start_of_mnth", "unknown word 'start_of_mnth'"),
        ("today -1 fortnight", "unknown unit 'fortnight'"),
        ("today 7 days", "cannot read '7 days'"),
        ("today -1.5 months", "cannot read"),
        ("-99999 days", "cannot read"),
        ("today -9999 years", "falls outside the calendar"),
        ("", "not empty"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        resolve_relative_date(expression, D(2024, 5, 15))


def test_declarations_accept_relative_defaults_for_dates_only():
    validate_declarations(
        [
            {"name": "start", "type": "date", "default": "start_of_month -1 month"},
            {"name": "end", "type": "date", "default": "start_of_month"},
            {"name": "since", "type": "datetime", "default": "-7 days"},
        ]
    )
    with pytest.raises(ValidationError) as caught:
        validate_declarations(
            [
                {"name": "start", "type": "date", "default": "start_of_mnth -1 month"},
                {"name": "n", "type": "integer", "default": "today"},
            ]
        )
    messages = caught.value.messages
    # Field-level messages that name the parameter and the mistake.
    assert messages[0].startswith("Parameter 'start': default 'start_of_mnth -1 month'")
    assert "unknown word 'start_of_mnth'" in messages[0]
    assert "or a relative date such as today, yesterday, start_of_month" in messages[0]
    assert messages[1].startswith("Parameter 'n': default 'today' does not match its type")


def test_a_run_records_the_concrete_dates():
    declarations = [
        {"name": "start", "type": "date", "default": "start_of_month -1 month"},
        {"name": "end", "type": "date", "default": "start_of_month"},
        {"name": "at", "type": "datetime", "default": "yesterday"},
    ]
    values = resolve_values(declarations, {}, today=D(2024, 3, 31))
    assert values == {"start": "2024-02-01", "end": "2024-03-01", "at": "2024-03-30 00:00:00"}
    # A value given as a relative date means the same; a date is a date.
    values = resolve_values(
        declarations, {"start": "today -7 days", "end": "2024-03-15"}, today=D(2024, 3, 31)
    )
    assert values["start"] == "2024-03-24" and values["end"] == "2024-03-15"


def test_a_bad_relative_value_is_an_error_beside_its_parameter():
    declarations = [{"name": "start", "type": "date"}]
    with pytest.raises(ValidationError) as caught:
        resolve_values(declarations, {"start": "last tuesday"})
    message = caught.value.message_dict["start"][0]
    assert message.startswith("Parameter 'start': expected a date as YYYY-MM-DD")
    assert "or a relative date (e.g. today" in message


# --- the configured time zone -----------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """Set the moment it is (timezone.now, which localdate reads)."""

    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_now


@pytest.mark.parametrize(
    ("zone", "expected_today", "expected_month", "expected_quarter"),
    [
        # 2024-03-31 23:30 UTC is already April 1 in Auckland, still March 31 in UTC and
        # Los Angeles: the month and the quarter both change with the zone.
        ("UTC", D(2024, 3, 31), D(2024, 3, 1), D(2024, 1, 1)),
        ("Pacific/Auckland", D(2024, 4, 1), D(2024, 4, 1), D(2024, 4, 1)),
        ("America/Los_Angeles", D(2024, 3, 31), D(2024, 3, 1), D(2024, 1, 1)),
    ],
)
def test_today_is_the_date_in_the_configured_time_zone(
    settings, clock, zone, expected_today, expected_month, expected_quarter
):
    settings.TIME_ZONE = zone
    clock(dt.datetime(2024, 3, 31, 23, 30, tzinfo=dt.UTC))
    assert local_today() == expected_today
    declarations = [
        {"name": "month", "type": "date", "default": "start_of_month"},
        {"name": "quarter", "type": "date", "default": "start_of_quarter"},
    ]
    assert resolve_values(declarations, {}) == {
        "month": expected_month.isoformat(),
        "quarter": expected_quarter.isoformat(),
    }


def test_new_year_comes_earlier_east_of_greenwich(settings, clock):
    clock(dt.datetime(2024, 12, 31, 20, 0, tzinfo=dt.UTC))
    declarations = [{"name": "year", "type": "date", "default": "start_of_year"}]
    settings.TIME_ZONE = "Asia/Tokyo"  # 2025-01-01 05:00
    assert resolve_values(declarations, {}) == {"year": "2025-01-01"}
    settings.TIME_ZONE = "Europe/London"  # 2024-12-31 20:00
    assert resolve_values(declarations, {}) == {"year": "2024-01-01"}


# --- the pages and the API ------------------------------------------------------------------

LAST_MONTH = [
    {"name": "start", "type": "date", "label": "From", "default": "start_of_month -1 month"},
    {"name": "end", "type": "date", "label": "Before", "default": "start_of_month"},
]
BETWEEN = (
    "SELECT id, ordered_at FROM orders WHERE ordered_at >= :start AND ordered_at < :end ORDER BY id"
)


@pytest.fixture
def in_april_2024(clock):
    clock(dt.datetime(2024, 4, 20, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def last_month(shop, owner, in_april_2024):
    return ArtifactFactory(owner=owner, sql_query=BETWEEN, query_params=LAST_MONTH)


def test_the_run_form_shows_the_expression_and_its_date_today(owner_client, last_month):
    content = owner_client.get(last_month.get_absolute_url()).content.decode()
    form = content.split('<form class="card-body border-bottom run-form"', 1)[1]
    form = form.split("</form>")[0]
    assert re.search(r'<input type="text" name="start" value="start_of_month -1 month"', form)
    assert "default start_of_month -1 month (2024-03-01 today)" in form
    assert "default start_of_month (2024-04-01 today)" in form
    assert "or relative, e.g. today -7 days" in form


def test_running_with_the_defaults_records_last_months_dates(owner_client, last_month):
    url = reverse("llm_artifact:artifact_run", args=[last_month.pk])
    response = owner_client.post(
        url, {"start": "start_of_month -1 month", "end": "start_of_month"}, headers=HTMX
    )
    assert response.status_code == 200
    run = ArtifactRun.objects.get()
    assert run.params == {"start": "2024-03-01", "end": "2024-04-01"}
    # March 2024 of the sample shop: orders 6, 7 and 8.
    assert run.row_count == 3
    # The address bar keeps the expressions: the link means "last month" next month too.
    assert "start=start_of_month+-1+month" in response["HX-Push-Url"]


def test_the_card_shows_the_expression_and_runs_last_month(owner_client, last_month):
    url = reverse("llm_artifact:artifact_card_run", args=[last_month.pk])
    content = owner_client.post(url, {}, headers=HTMX).content.decode()
    assert "default start_of_month -1 month (2024-03-01 today)" in content
    assert ArtifactRun.objects.get().params == {"start": "2024-03-01", "end": "2024-04-01"}


def test_the_page_refuses_a_bad_relative_value_beside_its_input(owner_client, last_month):
    url = reverse("llm_artifact:artifact_run", args=[last_month.pk])
    response = owner_client.post(url, {"start": "start of last month"}, headers=HTMX)
    assert response.status_code == 422
    assert "Parameter &#x27;start&#x27;: expected a date as YYYY-MM-DD" in (
        response.content.decode()
    )
    assert not ArtifactRun.objects.exists()


def test_the_api_runs_with_relative_values_and_describes_the_defaults(owner_api, last_month):
    execute = reverse("api:artifact-execute", args=[last_month.pk])
    response = owner_api.post(execute, {"params": {"end": "today"}}, format="json")
    assert response.status_code == 200, response.json()
    assert ArtifactRun.objects.get().params == {"start": "2024-03-01", "end": "2024-04-20"}
    body = owner_api.get(reverse("api:artifact-detail", args=[last_month.pk])).json()
    assert body["query_params"] == LAST_MONTH
    [start, end] = body["parameters"]
    assert start["default"] == "start_of_month -1 month"
    assert start["relative_default"] is True
    assert start["default_value"] == "2024-03-01"
    assert end["default_value"] == "2024-04-01"
    assert start["allowed_values"] is None


def test_the_api_refuses_a_bad_relative_default_naming_the_parameter(owner_api, shop):
    response = owner_api.post(
        reverse("api:artifact-list"),
        {
            "title": "Since",
            "sql_query": "SELECT id FROM orders WHERE ordered_at >= :since",
            "query_params": [{"name": "since", "type": "date", "default": "today - 7 dayz"}],
        },
        format="json",
    )
    assert response.status_code == 400
    [message] = response.json()["query_params"]
    assert message.startswith("Parameter 'since': default 'today - 7 dayz'")
    assert "unknown unit 'dayz'" in message


# --- properties -----------------------------------------------------------------------------

PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
days = st.dates(min_value=D(1900, 1, 1), max_value=D(2200, 12, 31))
offsets = st.lists(st.tuples(st.integers(-400, 400), st.sampled_from(UNITS)), max_size=4).map(
    lambda items: " ".join(f"{n:+d} {unit}{'s' if abs(n) != 1 else ''}" for n, unit in items)
)
expressions = st.builds(
    lambda anchor, rest: f"{anchor} {rest}".strip(), st.sampled_from(ANCHORS), offsets
)


@PROPERTIES
@given(day=days)
def test_anchors_start_their_period_and_never_pass_today(day):
    week = resolve_relative_date("start_of_week", day)
    month = resolve_relative_date("start_of_month", day)
    quarter = resolve_relative_date("start_of_quarter", day)
    year = resolve_relative_date("start_of_year", day)
    assert week.weekday() == 0 and 0 <= (day - week).days <= 6
    assert month.day == 1 and (month.year, month.month) == (day.year, day.month)
    assert quarter.day == 1 and quarter.month in (1, 4, 7, 10)
    assert quarter.year == day.year and 0 <= day.month - quarter.month <= 2
    assert year == D(day.year, 1, 1)
    assert year <= quarter <= month <= day
    assert resolve_relative_date("yesterday", day) == day - dt.timedelta(days=1)


@PROPERTIES
@given(day=days, months=st.integers(-60, 60))
def test_month_offsets_clamp_to_the_last_day_of_a_shorter_month(day, months):
    moved = resolve_relative_date(f"today {months:+d} months", day)
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    assert (moved.year, moved.month) == (year, month + 1)
    assert moved.day == min(day.day, calendar.monthrange(year, month + 1)[1])


@PROPERTIES
@given(day=days)
def test_last_month_is_a_whole_calendar_month_before_this_one(day):
    start = resolve_relative_date("start_of_month -1 month", day)
    end = resolve_relative_date("start_of_month", day)
    assert start.day == 1 and end.day == 1
    assert (end - start).days == calendar.monthrange(start.year, start.month)[1]
    assert end == day.replace(day=1)
    assert start == (end - dt.timedelta(days=1)).replace(day=1)


@PROPERTIES
@given(expression=expressions, day=days)
def test_any_expression_gives_a_date_or_says_it_left_the_calendar(expression, day):
    parsed = parse_relative_date(expression)
    # Written back in its canonical form, it reads the same.
    assert parse_relative_date(str(parsed)) == parsed
    try:
        result = parsed.resolve(day)
    except ValueError as exc:
        assert "falls outside the calendar" in str(exc)
    else:
        assert isinstance(result, dt.date)
    # The same declaration, through every layer's entry point.
    declarations = [{"name": "d", "type": "date", "default": expression}]
    described = describe_parameters(declarations, "", today=day)
    assert described[0]["relative_default"] is True


@PROPERTIES
@given(text=st.text(max_size=40))
def test_any_text_is_a_relative_date_or_a_value_error(text):
    with contextlib.suppress(ValueError):
        parse_relative_date(text)


@PROPERTIES
@given(
    default=st.one_of(st.text(max_size=40), expressions, st.integers(), st.none(), st.booleans()),
    param_type=st.sampled_from(["date", "datetime"]),
)
def test_any_date_default_is_accepted_or_a_message_naming_the_parameter(default, param_type):
    declarations = [{"name": "d", "type": param_type, "default": default}]
    try:
        validate_declarations(declarations)
    except ValidationError as exc:
        [message] = exc.messages
        assert message.startswith("Parameter 'd': ")
        return
    # Accepted: a run takes a concrete value of the type from it, or none.
    values = resolve_values(declarations, {}, today=D(2024, 2, 29))
    assert values["d"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}( .+)?", values["d"])
