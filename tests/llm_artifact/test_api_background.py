"""Background runs and exports on the API: ?background=1 answers 202 with the job, whose
url, cancel_url and download_url follow it; someone else's job is a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.jobs.models import Job
from apps.llm_artifact.background import job_for
from apps.llm_artifact.models import Artifact, ArtifactJob, ArtifactRun
from apps.llm_artifact.tasks import export_artifact_in_background
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

NUMBERS = (
    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :rows) "
    "SELECT n FROM seq"
)


@pytest.fixture(autouse=True)
def export_files(tmp_path, settings):
    settings.EXPORT_FILES_DIR = tmp_path / "exports"


@pytest.fixture
def artifact(tmp_path, settings, owner) -> Artifact:
    sample.use_sqlite(tmp_path, settings)
    return ArtifactFactory(
        owner=owner,
        title="Numbers",
        sql_query=NUMBERS,
        query_params=[{"name": "rows", "type": "integer", "default": 10}],
    )


def test_execute_in_the_background_answers_202_with_the_job(owner_api, artifact):
    response = owner_api.post(
        f"/api/artifacts/{artifact.pk}/execute/?background=1",
        {"params": {"rows": 4}},
        format="json",
    )
    assert response.status_code == 202
    body = response.json()
    record = ArtifactJob.objects.get()
    assert body["id"] == str(record.job_id)
    assert response["Location"] == body["url"]
    assert (body["kind"], body["status"], body["download_url"]) == ("run", "succeeded", None)
    run = ArtifactRun.objects.get()
    assert (body["run"], run.row_count) == (run.pk, 4)
    followed = owner_api.get(body["url"]).json()
    assert followed["status"] == "succeeded" and followed["progress"] == 1.0


def test_bad_values_are_a_400_before_anything_is_queued(owner_api, artifact):
    response = owner_api.post(
        f"/api/artifacts/{artifact.pk}/execute/?background=1",
        {"params": {"rows": "many"}},
        format="json",
    )
    assert response.status_code == 400
    assert "rows" in response.json()["params"]
    assert not Job.objects.exists()


def test_export_in_the_background_then_download(owner_api, artifact):
    response = owner_api.get(
        f"/api/artifacts/{artifact.pk}/export/", {"format": "csv", "rows": "3", "background": "1"}
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["export_format"], body["rows_written"], body["total_rows"]) == ("csv", 3, 3)
    assert body["params"] == {"rows": "3"}  # "background" is not a parameter value
    download = owner_api.get(body["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content).decode().split() == ["n", "1", "2", "3"]


def test_the_artifacts_jobs_and_mine_are_listed(owner_api, other_api, artifact):
    owner_api.get(f"/api/artifacts/{artifact.pk}/export.json?rows=2&background=1")
    listed = owner_api.get(f"/api/artifacts/{artifact.pk}/jobs/").json()["results"]
    assert [(j["kind"], j["export_format"]) for j in listed] == [("export", "json")]
    assert len(owner_api.get("/api/artifact-jobs/").json()["results"]) == 1
    assert other_api.get("/api/artifact-jobs/").json()["results"] == []
    assert other_api.get(f"/api/artifacts/{artifact.pk}/jobs/").status_code == 404


def test_someone_elses_job_is_a_404_and_staff_sees_it(owner_api, other_api, staff_api, artifact):
    body = owner_api.get(f"/api/artifacts/{artifact.pk}/export/?format=csv&background=1").json()
    for url in (body["url"], body["download_url"]):
        assert other_api.get(url).status_code == 404
        assert staff_api.get(url).status_code == 200
    assert other_api.post(body["cancel_url"]).status_code == 404


def test_cancel_a_queued_export_and_its_file_is_never_there(owner_api, artifact, owner):
    job = export_artifact_in_background.enqueue(
        artifact.pk,
        owner.pk,
        {},
        "csv",
        requested_by=owner,
        due_at=timezone.now() + timedelta(hours=1),
    )
    job_for(job, artifact=artifact, kind="export", export_format="csv", params={})
    assert owner_api.get(f"/api/artifact-jobs/{job.pk}/download/").status_code == 409
    response = owner_api.post(f"/api/artifact-jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert owner_api.get(f"/api/artifact-jobs/{job.pk}/download/").status_code == 404


def test_an_expired_file_is_gone(owner_api, artifact):
    body = owner_api.get(f"/api/artifacts/{artifact.pk}/export/?format=csv&background=1").json()
    ArtifactJob.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert owner_api.get(body["url"]).json()["download_url"] is None
    assert owner_api.get(body["download_url"]).status_code == 410


def test_a_run_has_no_file(owner_api, artifact):
    body = owner_api.post(
        f"/api/artifacts/{artifact.pk}/execute/?background=1", {}, format="json"
    ).json()
    assert owner_api.get(f"/api/artifact-jobs/{body['id']}/download/").status_code == 404
