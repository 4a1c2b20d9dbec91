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


def test_the_schedule_and_its_refreshes_link_to_their_jobs(client, staff, schedule):
    from apps.jobs.models import Job
    from apps.schedules import tasks

    job = tasks.run_now(schedule)
    refresh = schedule.refreshes.get()
    client.force_login(staff)
    page = client.get(reverse("admin:schedules_schedule_change", args=[schedule.pk])).text
    jobs = reverse("admin:jobs_job_changelist")
    # The refresh's own job (by its key) and all the schedule's refresh jobs.
    key = tasks.refresh_key(schedule.pk, refresh.due_at)
    assert f"{jobs}?name=apps.schedules.tasks.refresh_schedule&amp;key=" in page
    assert f"key__startswith=schedule%3A{schedule.pk}%3A" in page
    listed = client.get(jobs, {"name": tasks.refresh_schedule.name, "key": key})
    assert listed.status_code == 200
    assert reverse("admin:jobs_job_change", args=[job.pk]) in listed.text
    other = ScheduleFactory()
    tasks.run_now(other)
    assert Job.objects.count() == 2
    mine = client.get(jobs, {"key__startswith": f"schedule:{schedule.pk}:"}).text
    assert reverse("admin:jobs_job_change", args=[job.pk]) in mine
    assert str(Job.objects.exclude(pk=job.pk).get().pk) not in mine


def test_the_schedule_admin_is_for_staff_only(client, owner, schedule):
    client.force_login(owner)
    url = reverse("admin:schedules_schedule_change", args=[schedule.pk])
    assert client.get(url).status_code == 302  # to the admin's login
