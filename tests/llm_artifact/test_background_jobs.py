"""Background runs and exports from the artifact page: sent there by the user or because a
run took longer than a page may wait or an export is too big; their progress page, cancel,
the file's download to who may have it, and its expiry.

Jobs run at once in tests (tests/conftest.py, jobs_run_in_process);
tests/llm_artifact/test_background_worker.py runs a real worker process.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.jobs.models import Job
from apps.llm_artifact import tasks
from apps.llm_artifact.background import job_for
from apps.llm_artifact.models import Artifact, ArtifactJob, ArtifactRun
from apps.llm_artifact.tasks import delete_old_export_files, export_artifact_in_background
from tests.conftest import share
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

# Up to :rows numbers: as big (or slow) as a test needs, from no table at all.
NUMBERS = (
    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :rows) "
    "SELECT n, n * 2 AS twice FROM seq"
)
# About a second on SQLite: past a page's 0.2 s, well within a background 20 s.
SLOW = (
    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 3000000) "
    "SELECT count(*) AS counted FROM seq"
)
PARAMS = [{"name": "rows", "type": "integer", "default": 50}]
HTMX = {"HX-Request": "true"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def export_files(tmp_path, settings):
    settings.EXPORT_FILES_DIR = tmp_path / "exports"
    return settings.EXPORT_FILES_DIR


@pytest.fixture
def shop(tmp_path, settings):
    return sample.use_sqlite(tmp_path, settings)


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(owner=owner, title="Numbers", sql_query=NUMBERS, query_params=PARAMS)


def background_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:artifact_background", args=[artifact.pk])


def download_url(record: ArtifactJob) -> str:
    return reverse("llm_artifact:artifact_job_download", args=[record.artifact_id, record.job_id])


def cancel_url(record: ArtifactJob) -> str:
    return reverse("llm_artifact:artifact_job_cancel", args=[record.artifact_id, record.job_id])


def body(response) -> bytes:
    assert response.streaming, "a file is streamed, never read whole"
    return b"".join(response.streaming_content)


def export_in_background(client, artifact, export_format="csv", rows="50") -> ArtifactJob:
    response = client.post(background_url(artifact), {"rows": rows, "export_format": export_format})
    assert response.status_code == 302, response.content.decode()[:500]
    record = ArtifactJob.objects.select_related("job").latest("created_at")
    assert response["Location"] == record.get_absolute_url()
    return record


def test_an_export_sent_to_the_background_is_written_and_downloads(
    owner_client, artifact, export_files
):
    record = export_in_background(owner_client, artifact)
    assert record.job.status == Job.Status.SUCCEEDED, record.job.error
    assert (record.rows_written, record.total_rows) == (50, 50)

    page = owner_client.get(record.get_absolute_url()).content.decode()
    assert "Succeeded" in page
    assert 'id="job-progress"' in page and 'aria-valuenow="100"' in page
    assert download_url(record) in page
    assert 'hx-trigger="every 1s"' not in page  # finished: nothing to poll

    response = owner_client.get(download_url(record))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="numbers.csv"'
    rows = list(csv.reader(io.StringIO(body(response).decode())))
    assert rows[0] == ["n", "twice"]
    assert rows[1:3] == [["1", "2"], ["2", "4"]]
    assert len(rows) == 51
    # Private: written under EXPORT_FILES_DIR, recorded as one run of the artifact.
    assert [path.name for path in export_files.iterdir()] == [record.file_name]
    run = ArtifactRun.objects.get()
    assert (run.outcome, run.row_count, record.run_id) == ("ok", 50, run.pk)


def test_an_xlsx_export_in_the_background_is_a_workbook(owner_client, artifact):
    record = export_in_background(owner_client, artifact, "xlsx", rows="1200")
    response = owner_client.get(download_url(record))
    assert response["Content-Type"] == XLSX
    with zipfile.ZipFile(io.BytesIO(body(response))) as workbook:
        sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
    assert '<dimension ref="A1:B1201"/>' in sheet


def test_the_artifact_page_lists_the_users_background_jobs(owner_client, artifact):
    record = export_in_background(owner_client, artifact, "json")
    page = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert 'id="artifact-jobs"' in page
    assert "JSON export" in page
    assert download_url(record) in page
    assert 'id="run-background"' in page and 'id="background-xlsx"' in page


def test_a_background_run_records_its_run(owner_client, artifact):
    response = owner_client.post(background_url(artifact), {"rows": "7"})
    record = ArtifactJob.objects.select_related("job").get()
    assert response.status_code == 302
    assert (record.kind, record.job.status) == ("run", Job.Status.SUCCEEDED)
    run = ArtifactRun.objects.get()
    assert (run.row_count, run.params, record.run_id) == (7, {"rows": 7}, run.pk)
    page = owner_client.get(record.get_absolute_url()).content.decode()
    assert 'id="job-result-link"' in page


def test_htmx_background_buttons_go_to_the_progress_page(owner_client, artifact):
    response = owner_client.post(background_url(artifact), {"rows": "3"}, headers=HTMX)
    assert response["HX-Redirect"] == ArtifactJob.objects.get().get_absolute_url()


def test_bad_values_are_refused_before_anything_is_queued(owner_client, artifact):
    response = owner_client.post(background_url(artifact), {"rows": "many", "export_format": "csv"})
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_htmx_gets_bad_values_back_in_the_run_panel(owner_client, artifact):
    response = owner_client.post(background_url(artifact), {"rows": "many"}, headers=HTMX)
    assert response.status_code == 422
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="artifact-run-panel"')
    assert "is-invalid" in content
    assert not Job.objects.exists()


def test_an_unknown_format_is_a_404(owner_client, artifact):
    response = owner_client.post(background_url(artifact), {"rows": "3", "export_format": "exe"})
    assert response.status_code == 404


# --- The automatic switch --------------------------------------------------------------------


def test_a_big_export_from_the_page_goes_to_the_background(owner_client, artifact, settings):
    settings.BACKGROUND_EXPORT_ROWS = 20
    url = reverse("llm_artifact:artifact_export", args=[artifact.pk, "csv"])
    response = owner_client.get(url, {"rows": "21"})
    record = ArtifactJob.objects.select_related("job").get()
    assert response.status_code == 302
    assert response["Location"] == record.get_absolute_url()
    assert "21 rows, more than the 20 a page streams" in record.reason
    assert record.job.status == Job.Status.SUCCEEDED
    assert (
        "more than the 20 a page streams" in owner_client.get(response["Location"]).content.decode()
    )
    # At the threshold it still streams from the page, as before.
    assert owner_client.get(url, {"rows": "20"}).streaming
    assert ArtifactJob.objects.count() == 1


def test_background_1_on_a_page_export_sends_even_a_small_one(owner_client, artifact):
    url = reverse("llm_artifact:artifact_export", args=[artifact.pk, "json"])
    response = owner_client.get(url, {"rows": "2", "background": "1"})
    assert response.status_code == 302
    assert ArtifactJob.objects.get().export_format == "json"


def test_a_run_past_the_pages_limit_continues_in_the_background(
    owner_client, owner, shop, settings
):
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}?timeout=0.2&background_timeout=20"
    artifact = ArtifactFactory(owner=owner, sql_query=SLOW)
    response = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), headers=HTMX
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "ran longer than the 0.2 s limit of a page" in content
    assert "where its limit is 20 s" in content
    record = ArtifactJob.objects.select_related("job", "run").get()
    assert f'href="{record.get_absolute_url()}" id="run-background-link"' in content
    assert 'id="artifact-jobs"' in content and 'hx-swap-oob="true"' in content
    # The page's run timed out; the background one, with 20 s, finished.
    assert record.job.status == Job.Status.SUCCEEDED, record.job.error
    outcomes = sorted(ArtifactRun.objects.values_list("outcome", flat=True))
    assert outcomes == ["ok", "timeout"]
    assert record.run.outcome == "ok"


def test_a_background_run_still_has_its_own_limit(owner, shop, settings):
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}?timeout=0.1&background_timeout=0.3"
    artifact = ArtifactFactory(owner=owner, sql_query=SLOW)
    job = tasks.run_artifact_in_background.enqueue(artifact.pk, owner.pk, {})
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "0.3 s limit" in job.error
    assert ArtifactRun.objects.get().outcome == "timeout"


# --- Cancel ------------------------------------------------------------------------------------


def queued_export(artifact, user) -> ArtifactJob:
    """An export no worker has taken yet (due in an hour)."""
    job = export_artifact_in_background.enqueue(
        artifact.pk,
        user.pk,
        {"rows": "5"},
        "csv",
        requested_by=user,
        due_at=timezone.now() + timedelta(hours=1),
    )
    return job_for(job, artifact=artifact, kind="export", export_format="csv", params={})


def test_a_queued_export_is_cancelled_at_once(owner_client, artifact, owner):
    record = queued_export(artifact, owner)
    page = owner_client.get(record.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 1s"' in page  # unfinished: the status polls
    assert 'id="job-refresh"' in page  # and a plain link does the same without JavaScript
    response = owner_client.post(cancel_url(record), headers=HTMX)
    assert response.status_code == 200
    assert "Cancelled" in response.content.decode()
    record.job.refresh_from_db()
    assert record.job.status == Job.Status.CANCELLED
    assert owner_client.get(download_url(record)).status_code == 404


def test_cancel_without_javascript_goes_back_to_the_job(owner_client, artifact, owner):
    record = queued_export(artifact, owner)
    response = owner_client.post(cancel_url(record))
    assert response.status_code == 302
    assert response["Location"] == record.get_absolute_url()


def test_cancelling_a_running_export_stops_its_query_and_keeps_no_file(
    owner_client, artifact, owner, monkeypatch, export_files
):
    reporter = tasks._progress_reporter

    def cancel_on_first_batch(ctx, record, total):
        report = reporter(ctx, record, total)

        def on_batch(rows):
            # What the worker's heartbeat does when someone presses Cancel.
            Job.objects.filter(pk=ctx.job.pk).update(cancel_requested_at=timezone.now())
            ctx.poll()
            report(rows)

        return on_batch

    monkeypatch.setattr(tasks, "_progress_reporter", cancel_on_first_batch)
    record = export_in_background(owner_client, artifact, rows="100000")
    assert record.job.status == Job.Status.CANCELLED
    record.refresh_from_db()
    assert record.file_name == ""
    assert list(export_files.iterdir()) == []
    run = ArtifactRun.objects.get()
    assert run.row_count < 100000


# --- Expiry ------------------------------------------------------------------------------------


def test_an_expired_file_is_not_served_and_is_deleted_by_the_workers(
    owner_client, artifact, export_files
):
    record = export_in_background(owner_client, artifact)
    path = record.file_path
    ArtifactJob.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(1))
    assert owner_client.get(download_url(record)).status_code == 404
    assert "no longer kept" in owner_client.get(record.get_absolute_url()).content.decode()
    delete_old_export_files()
    record.refresh_from_db()
    assert record.file_name == "" and not path.exists()


def test_files_are_kept_for_the_configured_time(owner_client, artifact, settings):
    settings.EXPORT_FILE_KEEP_HOURS = 2
    record = export_in_background(owner_client, artifact)
    left = record.expires_at - timezone.now()
    assert timedelta(minutes=119) < left <= timedelta(hours=2)
    delete_old_export_files()
    assert owner_client.get(download_url(record)).status_code == 200


# --- Who may see a job and its file ----------------------------------------------------------


@pytest.mark.parametrize("persona", ["other_user", "group_viewer", "group_editor"])
def test_someone_elses_job_is_a_404(
    client, request, owner_client, artifact, team, editors, persona
):
    share(artifact, team, editors, edit=[editors])
    record = export_in_background(owner_client, artifact)
    client.force_login(request.getfixturevalue(persona))
    for url in (record.get_absolute_url(), download_url(record)):
        assert client.get(url).status_code == 404
    assert client.post(cancel_url(record)).status_code == 404


def test_staff_may_open_and_download_anyones(client, owner_client, artifact, staff):
    record = export_in_background(owner_client, artifact)
    client.force_login(staff)
    assert client.get(record.get_absolute_url()).status_code == 200
    assert client.get(download_url(record)).status_code == 200


@pytest.mark.parametrize("persona", ["group_viewer", "group_editor"])
def test_a_group_member_exports_in_the_background_until_unshared(
    client, request, artifact, team, editors, persona
):
    share(artifact, team, editors, edit=[editors])
    client.force_login(request.getfixturevalue(persona))
    record = export_in_background(client, artifact)
    assert client.get(download_url(record)).status_code == 200
    Artifact.objects.filter(pk=artifact.pk).update(visibility="private")
    assert client.get(download_url(record)).status_code == 404
    assert client.get(record.get_absolute_url()).status_code == 404


def test_other_user_cannot_start_one(client, artifact, other_user):
    client.force_login(other_user)
    assert client.post(background_url(artifact), {"rows": "3"}).status_code == 404
    assert not Job.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, owner_client, artifact):
    record = export_in_background(owner_client, artifact)
    client.logout()
    response = client.get(download_url(record))
    assert response.status_code == 302 and "login" in response["Location"]


def test_unfinished_files_of_dead_workers_are_swept(export_files):
    import os
    import time

    export_files.mkdir(parents=True)
    stale, fresh = export_files / "1-old.csv.part", export_files / "2-new.csv.part"
    for path in (stale, fresh):
        path.write_text("id\n")
    hours_ago = time.time() - (tasks.PARTIAL_FILE_HOURS + 1) * 3600
    os.utime(stale, (hours_ago, hours_ago))
    delete_old_export_files()
    assert [path.name for path in export_files.iterdir()] == ["2-new.csv.part"]


# --- The admin ---------------------------------------------------------------------------------


def test_the_admin_lists_jobs_and_deletes_a_file_early(owner_client, artifact, staff, client):
    record = export_in_background(owner_client, artifact)
    client.force_login(staff)
    url = reverse("admin:llm_artifact_artifactjob_changelist")
    page = client.get(url).content.decode()
    assert "Numbers" in page and "50 / 50 rows (100%)" in page and "numbers.csv" in page
    response = client.post(url, {"action": "delete_files", "_selected_action": [record.pk]})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.file_name == ""
    assert client.get(record.get_absolute_url()).status_code == 200
