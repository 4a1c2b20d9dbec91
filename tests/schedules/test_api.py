"""/api/schedules/, /api/alerts/, /api/subscriptions/ for every persona."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.schedules.models import Schedule, Subscription
from tests.conftest import share
from tests.schedules.factories import AlertFactory, ScheduleFactory

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def schedule(owner, team, editors):
    schedule = ScheduleFactory(artifact__owner=owner)
    share(schedule.artifact, team, editors, edit=[editors])
    schedule.save_with_timetable()
    return schedule


def test_owner_creates_a_schedule_with_field_errors_first(owner, schedule):
    client = api(owner)
    bad = client.post(
        "/api/schedules/",
        {"artifact": schedule.artifact_id, "kind": "weekly", "params": {"since": "later"}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()) >= {"time_of_day", "weekday", "params"}
    good = client.post(
        "/api/schedules/",
        {
            "artifact": schedule.artifact_id,
            "kind": "cron",
            "cron": "*/15 8-18 * * 1-5",
            "params": {"since": "start_of_month -1 month"},
        },
        format="json",
    )
    assert good.status_code == 201, good.json()
    body = good.json()
    assert body["owner"] == "owner" and body["next_run_at"] and body["enabled"] is True


def test_pause_resume_and_run(owner, schedule):
    client = api(owner)
    paused = client.post(f"/api/schedules/{schedule.pk}/pause/")
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    resumed = client.post(f"/api/schedules/{schedule.pk}/resume/")
    assert resumed.json()["enabled"] is True and resumed.json()["next_run_at"]
    ran = client.post(f"/api/schedules/{schedule.pk}/run/")
    assert ran.status_code == 202 and ran.json()["last_outcome"] == "ok"


def test_other_user_gets_404_and_an_empty_list(other_user, schedule):
    alert = AlertFactory(schedule=schedule)
    client = api(other_user)
    assert client.get("/api/schedules/").json()["count"] == 0
    assert client.get(f"/api/schedules/{schedule.pk}/").status_code == 404
    assert client.post(f"/api/schedules/{schedule.pk}/pause/").status_code == 404
    assert client.get(f"/api/alerts/{alert.pk}/").status_code == 404
    created = client.post(
        "/api/schedules/",
        {"artifact": schedule.artifact_id, "kind": "minutes", "every_minutes": 5},
        format="json",
    )
    assert created.status_code == 400 and "artifact" in created.json()
    assert (
        client.post("/api/subscriptions/", {"alert": alert.pk, "channel": "email"}).status_code
        == 400
    )


def test_group_viewer_reads_and_subscribes_but_may_not_schedule(group_viewer, schedule):
    alert = AlertFactory(schedule=schedule)
    client = api(group_viewer)
    assert client.get("/api/schedules/").json()["count"] == 1
    assert client.get(f"/api/alerts/{alert.pk}/").json()["webhook_secret"] is None
    created = client.post(
        "/api/schedules/",
        {"artifact": schedule.artifact_id, "kind": "minutes", "every_minutes": 5},
        format="json",
    )
    assert created.status_code == 403
    assert client.patch(f"/api/schedules/{schedule.pk}/", {"every_minutes": 2}).status_code == 403
    assert client.post(f"/api/schedules/{schedule.pk}/pause/").status_code == 403
    assert (
        client.post(
            "/api/alerts/", {"schedule": schedule.pk, "name": "x", "condition": "always"}
        ).status_code
        == 403
    )
    subscribed = client.post("/api/subscriptions/", {"alert": alert.pk, "channel": "in_app"})
    assert subscribed.status_code == 201 and subscribed.json()["user"] == "group_viewer"
    again = client.post("/api/subscriptions/", {"alert": alert.pk, "channel": "in_app"})
    assert again.status_code == 400
    webhook = client.post(
        "/api/subscriptions/",
        {"alert": alert.pk, "channel": "webhook", "webhook_url": "https://example.com/hook"},
    )
    assert webhook.status_code == 403
    mine = Subscription.objects.get(user=group_viewer)
    assert client.delete(f"/api/subscriptions/{mine.pk}/").status_code == 204


def test_group_editor_schedules_and_sees_the_webhook_secret(group_editor, schedule):
    client = api(group_editor)
    created = client.post(
        "/api/schedules/",
        {"artifact": schedule.artifact_id, "kind": "hourly", "minute": 5},
        format="json",
    )
    assert created.status_code == 201
    assert Schedule.objects.get(pk=created.json()["id"]).owner == group_editor
    alert = client.post(
        "/api/alerts/",
        {"schedule": created.json()["id"], "name": "Any rows", "condition": "has_rows"},
        format="json",
    )
    assert alert.status_code == 201
    assert alert.json()["webhook_secret"].startswith("whsec_")


def test_a_webhook_to_a_private_address_is_refused_with_a_field_error(owner, schedule):
    alert = AlertFactory(schedule=schedule)
    response = api(owner).post(
        "/api/subscriptions/",
        {"alert": alert.pk, "channel": "webhook", "webhook_url": "https://127.0.0.1/hook"},
    )
    assert response.status_code == 400 and "webhook_url" in response.json()


def test_staff_sees_every_schedule(staff, schedule):
    assert api(staff).get("/api/schedules/").json()["count"] == 1
