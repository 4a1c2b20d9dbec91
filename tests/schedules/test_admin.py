"""The schedules' and alerts' admin: last outcomes in the lists, and the operators' actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.schedules.models import Schedule
from tests.schedules.factories import AlertFactory, ScheduleFactory

pytestmark = pytest.mark.django_db


def test_the_lists_show_last_outcomes_without_a_query_per_row(
    client, staff, schedule, assert_get_queries
):
    client.force_login(staff)
    AlertFactory(schedule=schedule)
    url = reverse("admin:schedules_schedule_changelist")
    assert_get_queries(client, url, most=12)
    for _ in range(5):
        AlertFactory(schedule=ScheduleFactory())
    assert_get_queries(client, url, most=12)
    assert_get_queries(client, reverse("admin:schedules_alert_changelist"), most=12)
    assert b"every minute" in client.get(url).content


def test_actions_pause_resume_and_run_now(client, staff, schedule):
    client.force_login(staff)
    url = reverse("admin:schedules_schedule_changelist")
    for action in ("pause", "resume", "run_now"):
        response = client.post(url, {"action": action, "_selected_action": [schedule.pk]})
        assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.last_outcome == "ok"
    client.post(url, {"action": "pause", "_selected_action": [schedule.pk]})
    assert not Schedule.objects.get(pk=schedule.pk).enabled


def test_the_change_page_opens(client, staff, schedule):
    client.force_login(staff)
    AlertFactory(schedule=schedule)
    url = reverse("admin:schedules_schedule_change", args=[schedule.pk])
    assert client.get(url).status_code == 200
