"""Dashboards and reports on a schedule: the refresh asks the artifact's type what "run"
means, only "always" alerts apply to them, and their emails carry their charts and exports."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.schedules import services
from apps.schedules.models import Alert, Refresh, Schedule
from tests.conftest import share
from tests.llm_artifact.factories import BAR, ArtifactFactory, dashboard_for, period_artifacts
from tests.llm_artifact.test_report_render import STATUS_PARAM, STATUS_SQL, TOTAL_SQL, document
from tests.schedules.factories import AlertFactory, ScheduleFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

ALWAYS = {"condition": "always", "column": "", "operator": "", "threshold": None}


@pytest.fixture
def dashboard(owner, other_user):
    revenue, by_status, top = period_artifacts(owner)
    # The third tile's artifact is another user's and private: the owner cannot see it.
    Artifact.objects.filter(pk=top.pk).update(owner=other_user)
    return dashboard_for(owner, [revenue, by_status, top], shows=["number", "chart", "table"])


@pytest.fixture
def report(owner):
    chart = ArtifactFactory(
        owner=owner,
        title="Orders by status",
        sql_query=STATUS_SQL,
        visualization_config=BAR,
    )
    table = ArtifactFactory(
        owner=owner, title="Order list", sql_query="SELECT id, status, total FROM orders"
    )
    totals = ArtifactFactory(
        owner=owner, title="Paid totals", sql_query=TOTAL_SQL, query_params=STATUS_PARAM
    )
    return ArtifactFactory(
        owner=owner,
        title="Monthly sales",
        artifact_type="report",
        sql_query="",
        document={"markdown": document(chart, table, totals)},
    )


def refresh(schedule: Schedule) -> Refresh:
    due = timezone.now().replace(microsecond=0) - dt.timedelta(seconds=5)
    services.refresh_schedule(schedule.pk, due)
    return Refresh.objects.get(schedule=schedule, due_at=due)


def always_by_email(schedule: Schedule, user) -> Alert:
    alert = AlertFactory(schedule=schedule, name="Monday mail", **ALWAYS)
    SubscriptionFactory(alert=alert, user=user, channel="email")
    return alert


def test_a_dashboard_schedule_runs_the_tiles_its_owner_may_see(dashboard, owner, other_user):
    schedule = ScheduleFactory(artifact=dashboard, owner=owner)
    done = refresh(schedule)
    assert done.outcome == "ok" and done.error == ""
    runs = ArtifactRun.objects.filter(user=owner)
    # Revenue (and its previous period, for the number's change) and orders by status; the
    # other user's artifact is not run.
    assert {run.artifact.title for run in runs} == {"Revenue", "Orders by status"}
    assert not ArtifactRun.objects.filter(artifact__owner=other_user).exists()
    schedule.refresh_from_db()
    assert schedule.last_outcome == "ok"


def test_a_dashboard_email_carries_each_tiles_number_and_chart(dashboard, owner):
    schedule = ScheduleFactory(artifact=dashboard, owner=owner)
    always_by_email(schedule, owner)
    refresh(schedule)
    [email] = mail.outbox
    assert "Sales overview" in email.subject
    assert "Revenue" in email.body and "Orders by status" in email.body
    assert "1 tile is not shown" in email.body
    names = [name for name, _content, _type in email.attachments]
    assert names == ["t2-orders-by-status.png"]
    assert email.attachments[0][1].startswith(b"\x89PNG")
    html = email.alternatives[0][0]
    assert "<strong>" in html  # the revenue tile's number


def test_a_subscriber_gets_only_the_tiles_they_may_see(dashboard, owner, group_viewer, team):
    share(dashboard, team)
    schedule = ScheduleFactory(artifact=dashboard, owner=owner)
    always_by_email(schedule, group_viewer)
    refresh(schedule)
    [email] = mail.outbox
    assert email.to == [group_viewer.email]
    # The dashboard is shared, its tiles' artifacts are not: no tile, no chart.
    assert email.attachments == []
    assert "Revenue" not in email.body and "3 tiles are not shown" in email.body


def test_a_dashboard_tile_that_fails_fails_the_refresh_and_says_which(dashboard, owner):
    revenue = Artifact.objects.get(title="Revenue")
    Artifact.objects.filter(pk=revenue.pk).update(sql_query="SELECT missing FROM orders")
    schedule = ScheduleFactory(artifact=dashboard, owner=owner)
    always_by_email(schedule, owner)
    done = refresh(schedule)
    assert done.outcome == "failed" and "“Revenue”" in done.error
    assert mail.outbox == []
    assert Schedule.objects.get(pk=schedule.pk).consecutive_failures == 1


def test_a_report_schedule_re_runs_its_blocks_and_mails_its_export(report, owner):
    schedule = ScheduleFactory(artifact=report, owner=owner)
    always_by_email(schedule, owner)
    done = refresh(schedule)
    assert done.outcome == "ok"
    assert {run.artifact.title for run in ArtifactRun.objects.filter(user=owner)} == {
        "Orders by status",
        "Order list",
        "Paid totals",
    }
    [email] = mail.outbox
    html = email.alternatives[0][0]
    assert "Monthly sales" in html and "data:image/svg+xml;base64," in html  # the chart
    by_name = {name: content for name, content, _type in email.attachments}
    assert set(by_name) == {"monthly-sales.html", "monthly-sales.pdf"}
    assert by_name["monthly-sales.pdf"].startswith(b"%PDF")


def test_a_second_attempt_of_a_dashboard_refresh_does_not_mail_twice(dashboard, owner):
    schedule = ScheduleFactory(artifact=dashboard, owner=owner)
    always_by_email(schedule, owner)
    due = timezone.now().replace(microsecond=0)
    services.refresh_schedule(schedule.pk, due)
    services.refresh_schedule(schedule.pk, due)
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("kind", ["dashboard", "report"])
def test_alerts_that_need_rows_are_refused_on_a_dashboard_or_report(
    client, owner, dashboard, report, kind
):
    artifact = dashboard if kind == "dashboard" else report
    schedule = ScheduleFactory(artifact=artifact, owner=owner)
    client.force_login(owner)
    url = reverse("schedules:alert_create", args=[schedule.pk])
    refused = client.post(url, {"alert-name": "Rows", "alert-condition": "has_rows"})
    assert refused.status_code == 422
    assert "Only “Always” applies to a dashboard or a report" in refused.text
    assert not Alert.objects.exists()
    taken = client.post(url, {"alert-name": "Mail", "alert-condition": "always"})
    assert taken.status_code == 302
    assert Alert.objects.get().condition == "always"


def test_threshold_alerts_still_work_on_sql_artifacts(owner):
    alert = AlertFactory(schedule=ScheduleFactory(artifact__owner=owner))
    alert.full_clean()  # no error: SQL artifacts take every condition


@pytest.mark.parametrize("kind", ["dashboard", "report"])
def test_the_schedule_link_is_on_dashboard_and_report_pages(
    client, owner, group_viewer, team, other_user, staff, dashboard, report, kind
):
    artifact = dashboard if kind == "dashboard" else report
    share(artifact, team)
    schedules_url = reverse("schedules:artifact_schedules", args=[artifact.pk])
    for user in (owner, group_viewer, staff):
        client.force_login(user)
        page = client.get(artifact.get_absolute_url())
        assert page.status_code == 200
        assert schedules_url in page.text and 'id="artifact-schedules-link"' in page.text
        assert client.get(schedules_url).status_code == 200
    client.force_login(other_user)
    assert client.get(artifact.get_absolute_url()).status_code == 404
    assert client.get(schedules_url).status_code == 404


def test_the_api_refuses_alerts_that_need_rows_on_a_dashboard(owner_api, owner, dashboard):
    schedule = ScheduleFactory(artifact=dashboard, owner=owner)
    refused = owner_api.post(
        "/api/alerts/",
        {"schedule": schedule.pk, "name": "Rows", "condition": "changed"},
        format="json",
    )
    assert refused.status_code == 400
    assert "Only “Always” applies" in refused.json()["condition"][0]
    taken = owner_api.post(
        "/api/alerts/",
        {"schedule": schedule.pk, "name": "Mail", "condition": "always"},
        format="json",
    )
    assert taken.status_code == 201


@pytest.mark.parametrize("kind", ["dashboard", "report"])
def test_an_owner_schedules_a_dashboard_or_report_on_its_page(
    client, owner, group_viewer, team, dashboard, report, kind
):
    artifact = dashboard if kind == "dashboard" else report
    share(artifact, team)
    url = reverse("schedules:schedule_create", args=[artifact.pk])
    form = {"schedule-kind": "daily", "schedule-time_of_day": "07:30"}
    client.force_login(group_viewer)
    assert client.post(url, form).status_code == 403
    client.force_login(owner)
    created = client.post(url, form)
    assert created.status_code == 302
    schedule = Schedule.objects.get(artifact=artifact)
    assert schedule.owner == owner and schedule.params == {} and schedule.next_run_at
    page = client.get(reverse("schedules:artifact_schedules", args=[artifact.pk]))
    assert "Daily at 07:30" in page.text or "daily at 07:30" in page.text
