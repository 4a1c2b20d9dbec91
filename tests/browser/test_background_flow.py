"""A background export the way people use it: press XLSX under "In the background" on the
artifact page, land on its progress page, watch it update itself until the file is ready
(htmx polling), and download it; without JavaScript the Refresh link does the same."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.jobs.models import Job
from apps.llm_artifact.models import ArtifactJob
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def artifact(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    settings.EXPORT_FILES_DIR = tmp_path / "exports"
    user = UserFactory(username="analyst")
    return ArtifactFactory(
        owner=user, title="Orders by id", sql_query="SELECT id, status, total FROM orders"
    )


def test_an_export_sent_to_the_background_downloads_from_its_page(page: Page, artifact):
    sign_in(page)
    page.goto(artifact.get_absolute_url())
    page.locator("#background-xlsx").click()
    # Jobs run at once in tests: the progress page opens on a finished export.
    expect(page.locator("#job-status-badge")).to_have_text("Succeeded")
    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "100")
    with page.expect_download() as download:
        page.locator("#job-download").click()
    assert download.value.suggested_filename == "orders-by-id.xlsx"
    page.goto(artifact.get_absolute_url())
    expect(page.locator("#artifact-jobs .job-row")).to_have_count(1)


def test_the_progress_page_updates_itself_until_the_file_is_ready(page: Page, artifact):
    from apps.llm_artifact.background import job_for
    from apps.llm_artifact.tasks import export_artifact_in_background

    owner = artifact.owner
    job = export_artifact_in_background.enqueue(
        artifact.pk,
        owner.pk,
        {},
        "csv",
        requested_by=owner,
        due_at=timezone.now() + timedelta(hours=1),
    )
    record = job_for(job, artifact=artifact, kind="export", export_format="csv", params={})
    sign_in(page)
    page.goto(record.get_absolute_url())
    expect(page.locator("#job-status-badge")).to_have_text("Queued")
    expect(page.locator("#job-download")).to_have_count(0)

    # A worker takes it and reports progress: the page follows without a reload.
    Job.objects.filter(pk=job.pk).update(
        status="running", progress=0.4, progress_text="4 of 10 rows written"
    )
    expect(page.locator("#job-progress-text")).to_have_text("4 of 10 rows written")
    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "40")

    # ... and finishes: the download link appears and the polling stops.
    from django.conf import settings

    settings.EXPORT_FILES_DIR.mkdir(parents=True, exist_ok=True)
    (settings.EXPORT_FILES_DIR / "done.csv").write_text("id\n1\n")
    ArtifactJob.objects.filter(pk=record.pk).update(
        file_name="done.csv",
        download_name="orders-by-id.csv",
        file_size=7,
        rows_written=1,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    Job.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0)
    expect(page.locator("#job-download")).to_be_visible()
    expect(page.locator("#job-status")).not_to_have_attribute("hx-trigger", "every 1s")


def test_without_javascript_refresh_and_cancel_work(page_without_js: Page, artifact):
    from apps.llm_artifact.background import job_for
    from apps.llm_artifact.tasks import export_artifact_in_background

    owner = artifact.owner
    job = export_artifact_in_background.enqueue(
        artifact.pk,
        owner.pk,
        {},
        "csv",
        requested_by=owner,
        due_at=timezone.now() + timedelta(hours=1),
    )
    record = job_for(job, artifact=artifact, kind="export", export_format="csv", params={})
    page = page_without_js
    sign_in(page)
    page.goto(record.get_absolute_url())
    page.locator("#job-refresh").click()
    expect(page.locator("#job-status-badge")).to_have_text("Queued")
    page.locator("#job-cancel").click()
    expect(page.locator("#job-status-badge")).to_have_text("Cancelled")
