"""The queue in the admin: the job list with counts, a job's attempts, Retry and Cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.jobs.models import Job, JobAttempt
from tests.conftest import UserFactory

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:jobs_job_changelist")
ADD = "tests.jobs.sample_tasks.add"


def make_job(status=Job.Status.QUEUED, **fields) -> Job:
    fields.setdefault("name", ADD)
    fields.setdefault("arguments", [20, 22])
    return Job.objects.create(status=status, **fields)


def failed_job(**fields) -> Job:
    fields.setdefault("error", "source down for now")
    job = make_job(Job.Status.FAILED, attempts=3, finished_at=timezone.now(), **fields)
    for number in (1, 2, 3):
        JobAttempt.objects.create(
            job=job, number=number, worker="host:41", outcome="failed", error="source down"
        )
    return job


def running_job(**fields) -> Job:
    fields.setdefault("lease_expires_at", timezone.now() + timedelta(seconds=10))
    return make_job(
        Job.Status.RUNNING,
        attempts=1,
        lease_owner="worker-7:1234",
        started_at=timezone.now(),
        progress=0.4,
        progress_text="Running the query",
        **fields,
    )


def act(client, action: str, *jobs: Job):
    return client.post(
        JOBS,
        {"action": action, "_selected_action": [str(job.pk) for job in jobs]},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_staff_see_waiting_running_and_failed_jobs_with_counts(staff_client):
    make_job()
    running_job()
    failed_job(error="<b>the data is not what it should be</b>")

    response = staff_client.get(JOBS)

    assert response.status_code == 200
    page = response.content.decode()
    assert [row["status"] for row in response.context["status_counts"]][:3] == [
        "queued",
        "running",
        "succeeded",
    ]
    counts = {row["status"]: row["number"] for row in response.context["status_counts"]}
    assert counts == {"queued": 1, "running": 1, "succeeded": 0, "failed": 1, "cancelled": 0}
    assert "worker-7:1234 (lease" in page
    assert "40% · Running the query" in page
    assert "3 / 3" in page
    # Errors are shown as text, never as markup.
    assert "&lt;b&gt;the data is not what it should be&lt;/b&gt;" in page
    assert "<b>the data" not in page


def test_the_list_filters_by_status_and_by_job(staff_client):
    waiting = make_job()
    failed = failed_job()
    other = make_job(name="tests.jobs.sample_tasks.broken", arguments=[])

    by_status = staff_client.get(JOBS, {"status__exact": "failed"})
    by_name = staff_client.get(JOBS, {"name": ADD})

    assert [job.pk for job in by_status.context["cl"].result_list] == [failed.pk]
    assert {job.pk for job in by_name.context["cl"].result_list} == {waiting.pk, failed.pk}
    assert other.pk not in {job.pk for job in by_name.context["cl"].result_list}


def test_a_running_job_whose_lease_lapsed_is_pointed_out(staff_client):
    running_job(lease_expires_at=timezone.now() - timedelta(seconds=30))

    response = staff_client.get(JOBS)

    assert response.context["lapsed"] == 1
    assert "lost its worker" in response.content.decode()
    assert "lease lapsed" in response.content.decode()


def test_the_change_page_lists_each_attempt_with_its_error(staff_client):
    job = failed_job()

    response = staff_client.get(reverse("admin:jobs_job_change", args=[job.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("source down") >= 3
    assert "host:41" in page
    # Nothing to save by hand: the record is the workers'.
    assert 'name="_save"' not in page


def test_retry_runs_a_failed_job_again_with_fresh_attempts(staff_client, staff):
    job = failed_job()
    finished = make_job(Job.Status.SUCCEEDED, result=1)

    response = act(staff_client, "retry_jobs", job, finished)

    job.refresh_from_db()
    # Tests run jobs in-process: the retry ran at once, on its own new attempt.
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == 42
    assert job.error == ""
    assert job.attempts == 1
    attempts = job.attempt_log.order_by("started_at", "pk").values_list("number", "outcome")
    assert list(attempts) == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
        (1, "succeeded"),
    ]
    finished.refresh_from_db()
    assert finished.result == 1
    assert messages_of(response) == [
        "1 job queued again. 1 was not failed or cancelled, so it was left alone."
    ]
    assert LogEntry.objects.filter(object_id=str(job.pk), user=staff).exists()


def test_cancel_drops_a_waiting_job_and_asks_a_running_one_to_stop(staff_client):
    waiting = make_job()
    running = running_job()
    done = make_job(Job.Status.SUCCEEDED)

    response = act(staff_client, "cancel_jobs", waiting, running, done)

    waiting.refresh_from_db()
    running.refresh_from_db()
    done.refresh_from_db()
    assert waiting.status == Job.Status.CANCELLED
    # Its worker sees the request at its next lease renewal and stops it.
    assert running.status == Job.Status.RUNNING
    assert running.cancel_requested_at is not None
    assert running.cancel_was_requested()
    assert done.status == Job.Status.SUCCEEDED
    assert messages_of(response) == [
        "1 waiting job cancelled. 1 running job asked to stop. 1 had already finished."
    ]


def test_users_who_are_not_staff_are_refused(client, other_user):
    job = make_job()
    client.force_login(other_user)

    listing = client.get(JOBS)
    action = act(client, "cancel_jobs", job)

    assert listing.status_code == 302
    assert reverse("admin:login") in listing["Location"]
    assert action.redirect_chain[0][1] == 302
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_staff_without_the_job_permissions_get_403(client):
    clerk = UserFactory(username="clerk", is_staff=True)
    client.force_login(clerk)

    assert client.get(JOBS).status_code == 403


def test_the_list_costs_no_query_per_job(staff_client, assert_get_queries):
    failed_job(requested_by=UserFactory())
    running_job()
    assert_get_queries(staff_client, JOBS, most=11)

    for _ in range(20):
        failed_job(requested_by=UserFactory())
        running_job(requested_by=UserFactory())
        make_job()
    assert_get_queries(staff_client, JOBS, most=11)


def test_search_finds_a_job_by_id_or_by_error_and_survives_any_text(staff_client):
    job = failed_job(error="relation orders_2019 does not exist")
    other = make_job()

    by_id = staff_client.get(JOBS, {"q": str(job.pk)})
    by_error = staff_client.get(JOBS, {"q": "orders_2019"})
    by_nonsense = staff_client.get(JOBS, {"q": "not-a-uuid 'quoted'"})

    assert [found.pk for found in by_id.context["cl"].result_list] == [job.pk]
    assert [found.pk for found in by_error.context["cl"].result_list] == [job.pk]
    assert by_nonsense.status_code == 200
    assert other.pk not in [found.pk for found in by_nonsense.context["cl"].result_list]
