"""The artifact admin and charts: the change form checks the spec like every other path, and
shows a preview the server draws on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact
from tests.datasources import sample
from tests.llm_artifact.factories import BAR, ArtifactFactory, admin_form_data

pytestmark = pytest.mark.django_db

STATUS_SQL = "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status"


@pytest.fixture
def artifact(tmp_path: Path, settings, owner) -> Artifact:
    sample.use_sqlite(tmp_path, settings)
    return ArtifactFactory(owner=owner, sql_query=STATUS_SQL, visualization_config=BAR)


def change_url(artifact: Artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def test_change_page_offers_a_preview_drawn_on_demand(staff_client, artifact):
    content = staff_client.get(change_url(artifact)).content.decode()

    svg = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "svg"})
    assert f'data-chart-image-src="{svg}?width=640&amp;height=360"' in content
    assert f'<a href="{svg}"' in content
    assert "/static/js/charts.js" in content
    # Showing the page runs nothing: the preview waits for the button.
    assert not ArtifactRun.objects.exists()


def test_preview_image_is_what_the_chart_endpoint_draws(staff_client, artifact):
    response = staff_client.get(
        reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "svg"}),
        {"width": 640, "height": 360},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b'width="640"' in response.content


def test_a_table_only_artifact_has_no_preview(staff_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config={})
    content = staff_client.get(change_url(artifact)).content.decode()
    assert "No chart: the results show as a table." in content
    assert "data-chart-image-src" not in content


def test_change_page_lists_the_charts_problems(staff_client, artifact):
    content = staff_client.get(change_url(artifact)).content.decode()
    assert "no successful run yet" in content  # a warning: nothing ran


def test_change_form_refuses_a_field_the_result_does_not_have(staff_client, artifact, staff):
    run_artifact(artifact, user=staff, raw_params={})
    spec = {**BAR, "encoding": {**BAR["encoding"], "x": {"field": "state", "type": "nominal"}}}

    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, visualization_config=json.dumps(spec))
    )

    assert response.status_code == 200
    assert "encoding.x.field: There is no column or calculated field named" in (
        response.content.decode().replace("&quot;", '"')
    )
    artifact.refresh_from_db()
    assert artifact.visualization_config == BAR


def test_change_form_saves_a_valid_chart(staff_client, artifact, staff):
    run_artifact(artifact, user=staff, raw_params={})
    spec = {**BAR, "mark": "point"}

    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, visualization_config=json.dumps(spec))
    )

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.visualization_config == spec
