"""The "Schedule & alerts" page for every persona: owner, other_user (404), staff, a group
viewer (sees, subscribes, may not schedule: 403) and a group editor (schedules)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.schedules.models import Alert, Schedule, Subscription
from tests.conftest import share
from tests.schedules.factories import AlertFactory, ScheduleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifact(owner, team, editors):
    schedule = ScheduleFactory(artifact__owner=owner, artifact__title="Orders by status")
    schedule.delete()
    return share(schedule.artifact, team, editors, edit=[editors])


def page_url(artifact) -> str:
    return reverse("schedules:artifact_schedules", args=[artifact.pk])


NEW_SCHEDULE = {
    "schedule-kind": "daily",
    "schedule-time_of_day": "07:30",
    "since": "today -30 days",
}


def test_the_artifact_page_links_to_its_schedules(client, owner, artifact):
    client.force_login(owner)
    response = client.get(artifact.get_absolute_url())
    assert page_url(artifact).encode() in response.content


def test_owner_creates_a_daily_schedule_with_a_relative_date(client, owner, artifact):
    client.force_login(owner)
    response = client.post(reverse("schedules:schedule_create", args=[artifact.pk]), NEW_SCHEDULE)
    assert response.status_code == 302
    schedule = Schedule.objects.get(artifact=artifact)
    assert schedule.owner == owner and schedule.params == {"since": "today -30 days"}
    assert schedule.next_run_at is not None
    page = client.get(page_url(artifact)).content.decode()
    assert "Daily at 07:30" in page and "today -30 days" in page


def test_bad_input_comes_back_beside_its_field(client, owner, artifact):
    client.force_login(owner)
    url = reverse("schedules:schedule_create", args=[artifact.pk])
    response = client.post(url, {"schedule-kind": "cron", "schedule-cron": "61 * * * *"})
    assert response.status_code == 422
    assert "Not a valid cron expression" in response.content.decode()
    response = client.post(
        url, {"schedule-kind": "daily", "schedule-time_of_day": "07:30", "since": "soon"}
    )
    assert response.status_code == 422
    assert "Parameter &#x27;since&#x27;" in response.content.decode()
    assert not Schedule.objects.exists()


def test_htmx_gets_the_panel(client, owner, artifact):
    client.force_login(owner)
    response = client.post(
        reverse("schedules:schedule_create", args=[artifact.pk]),
        NEW_SCHEDULE,
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="schedules-panel">') and "Daily at 07:30" in content


def test_other_user_gets_404(client, other_user, artifact):
    schedule = ScheduleFactory(artifact=artifact, owner=artifact.owner)
    client.force_login(other_user)
    assert client.get(page_url(artifact)).status_code == 404
    for name in ("schedule_pause", "schedule_resume", "schedule_run", "schedule_delete"):
        assert client.post(reverse(f"schedules:{name}", args=[schedule.pk])).status_code == 404
    assert (
        client.post(
            reverse("schedules:schedule_create", args=[artifact.pk]), NEW_SCHEDULE
        ).status_code
        == 404
    )


def test_group_viewer_sees_and_subscribes_but_may_not_schedule(client, group_viewer, artifact):
    alert = AlertFactory(schedule__artifact=artifact, schedule__owner=artifact.owner)
    client.force_login(group_viewer)
    page = client.get(page_url(artifact))
    assert page.status_code == 200
    assert b"New schedule" not in page.content and b"Webhook signing secret" not in page.content
    created = client.post(reverse("schedules:schedule_create", args=[artifact.pk]), NEW_SCHEDULE)
    assert created.status_code == 403
    assert (
        client.post(reverse("schedules:schedule_pause", args=[alert.schedule.pk])).status_code
        == 403
    )
    subscribe = reverse("schedules:subscription_create", args=[alert.pk])
    assert client.post(subscribe, {"subscribe-channel": "email"}).status_code == 302
    assert Subscription.objects.filter(alert=alert, user=group_viewer, channel="email").exists()
    # Again on the same channel: said so, not a 500.
    again = client.post(subscribe, {"subscribe-channel": "email"})
    assert again.status_code == 422 and b"already subscribed" in again.content
    # Webhooks are for editors.
    webhook = client.post(
        subscribe,
        {"subscribe-channel": "webhook", "subscribe-webhook_url": "https://example.com/h"},
    )
    assert webhook.status_code == 422
    assert not Subscription.objects.filter(channel="webhook").exists()


def test_group_editor_schedules_and_adds_an_alert(client, group_editor, artifact):
    client.force_login(group_editor)
    response = client.post(reverse("schedules:schedule_create", args=[artifact.pk]), NEW_SCHEDULE)
    assert response.status_code == 302
    schedule = Schedule.objects.get(artifact=artifact, owner=group_editor)
    response = client.post(
        reverse("schedules:alert_create", args=[schedule.pk]),
        {
            "alert-name": "Cancelled",
            "alert-condition": "threshold",
            "alert-column": "orders",
            "alert-operator": ">",
            "alert-threshold": "10",
            "alert-filter_column": "status",
            "alert-filter_value": "cancelled",
        },
    )
    assert response.status_code == 302
    alert = Alert.objects.get(schedule=schedule)
    assert alert.describe() == "orders > 10 where status = cancelled"
    # Whoever sets it up hears of it.
    assert alert.subscriptions.get().user == group_editor
    assert b"Webhook signing secret" in client.get(page_url(artifact)).content


def test_an_incomplete_threshold_alert_is_refused_with_field_errors(client, owner, artifact):
    schedule = ScheduleFactory(artifact=artifact, owner=owner)
    client.force_login(owner)
    response = client.post(
        reverse("schedules:alert_create", args=[schedule.pk]),
        {"alert-name": "x", "alert-condition": "threshold"},
    )
    assert response.status_code == 422
    assert b"Name the column to compare." in response.content
    assert not Alert.objects.exists()


def test_owner_pauses_resumes_edits_and_deletes(client, owner, artifact):
    schedule = ScheduleFactory(artifact=artifact, owner=owner)
    schedule.save_with_timetable()
    client.force_login(owner)
    client.post(reverse("schedules:schedule_pause", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    assert "Paused by owner" in schedule.paused_reason
    client.post(reverse("schedules:schedule_resume", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None
    edit = reverse("schedules:schedule_edit", args=[schedule.pk])
    assert client.get(edit).status_code == 200
    response = client.post(edit, {"schedule-kind": "hourly", "schedule-minute": "5"})
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.describe() == "hourly at minute 5"
    client.post(reverse("schedules:schedule_delete", args=[schedule.pk]))
    assert not Schedule.objects.exists()


def test_staff_sees_and_changes_any_schedule(client, staff, artifact):
    schedule = ScheduleFactory(artifact=artifact, owner=artifact.owner)
    client.force_login(staff)
    assert client.get(page_url(artifact)).status_code == 200
    assert client.post(reverse("schedules:schedule_pause", args=[schedule.pk])).status_code == 302


def test_run_now_records_a_refresh(client, owner, artifact):
    schedule = ScheduleFactory(artifact=artifact, owner=owner)
    client.force_login(owner)
    client.post(reverse("schedules:schedule_run", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.last_outcome == "ok"
    assert b"Refreshed" in client.get(page_url(artifact)).content
