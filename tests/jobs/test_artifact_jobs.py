from __future__ import annotations

import pytest

from apps.jobs.models import Job
from apps.llm_artifact.models import ArtifactRun
from apps.llm_artifact.tasks import run_artifact_in_background

pytestmark = pytest.mark.django_db


def test_an_artifact_runs_in_the_background_as_its_owner(owner_world):
    artifact = owner_world.artifact
    job = run_artifact_in_background.enqueue(artifact.pk, artifact.owner_id, {})
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    run = ArtifactRun.objects.get(pk=job.result["run"])
    assert run.artifact == artifact
    assert run.user == artifact.owner


def test_a_user_who_may_not_see_the_artifact_gets_a_failed_job(owner_world, other_user):
    job = run_artifact_in_background.enqueue(owner_world.artifact.pk, other_user.pk, {})
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert not ArtifactRun.objects.filter(user=other_user).exists()
