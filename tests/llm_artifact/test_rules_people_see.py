"""Rules a person meets on every face: a required parameter left empty is an error on its
field (never its default silently), and the status "Failed" is set by runs, never chosen."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.parameters import resolve_values
from tests.llm_artifact.factories import ArtifactFactory

HTMX = {"HX-Request": "true"}
SINCE = [{"name": "since", "type": "date", "default": "2024-01-01", "required": True}]


# --- a required parameter left empty --------------------------------------------------------


@pytest.mark.parametrize("empty", ["", None])
def test_a_required_parameter_left_empty_is_an_error_even_with_a_default(empty):
    with pytest.raises(ValidationError) as caught:
        resolve_values(SINCE, {"since": empty})
    assert caught.value.message_dict == {"since": ["Parameter 'since' is required."]}


def test_a_required_parameter_not_given_takes_its_default():
    assert resolve_values(SINCE, {}) == {"since": "2024-01-01"}


def test_a_required_text_left_empty_is_an_error():
    declarations = [{"name": "status", "type": "string", "default": "paid", "required": True}]
    with pytest.raises(ValidationError):
        resolve_values(declarations, {"status": ""})
    # An optional one keeps "" as a value.
    assert resolve_values([{"name": "note", "type": "string"}], {"note": ""}) == {"note": ""}


@pytest.fixture
def dated(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        sql_query="SELECT id FROM orders WHERE ordered_at >= :since",
        query_params=SINCE,
    )


def test_the_page_shows_the_error_beside_the_cleared_field(owner_client, dated):
    url = reverse("llm_artifact:artifact_run", args=[dated.pk])
    response = owner_client.post(url, {"since": ""}, headers=HTMX)
    assert response.status_code == 422
    content = response.content.decode()
    assert "Parameter &#x27;since&#x27; is required." in content
    assert 'aria-invalid="true"' in content
    assert not ArtifactRun.objects.exists()


def test_the_page_marks_a_required_parameter_with_a_default_as_required(owner_client, dated):
    content = owner_client.get(dated.get_absolute_url()).content.decode()
    assert 'aria-required="true"' in content


def test_the_api_refuses_a_required_parameter_sent_empty(owner_api, dated):
    url = reverse("api:artifact-execute", args=[dated.pk])
    response = owner_api.post(url, {"params": {"since": ""}}, format="json")
    assert response.status_code == 400
    assert response.json()["params"]["since"] == ["Parameter 'since' is required."]
    assert not ArtifactRun.objects.exists()


# --- "Failed" is set by runs ----------------------------------------------------------------


def edit(client, artifact: Artifact, status: str):
    data = {"title": artifact.title, "status": status, "description": "", "comment": ""}
    return client.post(
        reverse("llm_artifact:artifact_edit", args=[artifact.pk]), data, headers=HTMX
    )


def test_the_edit_form_does_not_offer_failed(owner_client, owner):
    artifact = ArtifactFactory(owner=owner)
    content = owner_client.get(reverse("llm_artifact:artifact_edit", args=[artifact.pk])).content
    assert b'value="failed"' not in content
    assert b'value="deprecated"' in content

    response = edit(owner_client, artifact, "failed")
    assert response.status_code == 422
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.ACTIVE


def test_a_failed_artifact_shows_failed_and_can_be_moved_on(owner_client, owner):
    artifact = ArtifactFactory(owner=owner, status=Artifact.Status.FAILED)
    content = owner_client.get(reverse("llm_artifact:artifact_edit", args=[artifact.pk])).content
    assert b'value="failed" selected' in content
    assert edit(owner_client, artifact, "failed").status_code == 200  # saving other fields
    assert edit(owner_client, artifact, "draft").status_code == 200
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.DRAFT


def test_the_api_refuses_setting_failed(owner_api, owner):
    artifact = ArtifactFactory(owner=owner)
    url = reverse("api:artifact-detail", args=[artifact.pk])
    response = owner_api.patch(url, {"status": "failed"}, format="json")
    assert response.status_code == 400
    assert "set by runs" in response.json()["status"][0]
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.ACTIVE

    create = owner_api.post(
        reverse("api:artifact-list"),
        {"title": "New", "sql_query": "SELECT 1", "status": "failed"},
        format="json",
    )
    assert create.status_code == 400
    assert "status" in create.json()


def test_the_admin_does_not_offer_failed(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)
    url = reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])
    content = staff_client.get(url).content.decode()
    status_select = content.split('name="status"', 1)[1].split("</select>", 1)[0]
    assert 'value="failed"' not in status_select
    assert 'value="draft"' in status_select
