"""The background runs' admin links each record to its job in the Job admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.llm_artifact.test_background_jobs import artifact, export_in_background  # noqa: F401

pytestmark = pytest.mark.django_db


def test_each_background_job_links_to_the_job_admin(owner_client, artifact, staff, client):  # noqa: F811
    record = export_in_background(owner_client, artifact)
    job_page = reverse("admin:jobs_job_change", args=[record.job_id])
    client.force_login(staff)
    listing = client.get(reverse("admin:llm_artifact_artifactjob_changelist")).text
    assert job_page in listing
    change = client.get(reverse("admin:llm_artifact_artifactjob_change", args=[record.pk])).text
    assert job_page in change
    assert client.get(job_page).status_code == 200


def test_the_background_jobs_admin_is_for_staff_only(owner_client, artifact):  # noqa: F811
    export_in_background(owner_client, artifact)
    listing = owner_client.get(reverse("admin:llm_artifact_artifactjob_changelist"))
    assert listing.status_code == 302
