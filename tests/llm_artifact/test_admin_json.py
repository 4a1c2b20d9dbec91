"""The artifact admin's JSON fields: indented, monospace, with their errors at the field."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory, admin_form_data

pytestmark = pytest.mark.django_db

PARAMS = [{"name": "status", "type": "string", "label": "Status", "default": "paid"}]
CHART = {
    "data": {"name": "results"},
    "mark": "bar",
    "encoding": {"x": {"field": "status", "type": "nominal"}},
}


@pytest.fixture
def artifact(tmp_path: Path, settings, owner) -> Artifact:
    sample.use_sqlite(tmp_path, settings)
    return ArtifactFactory(
        owner=owner,
        sql_query="SELECT status FROM orders WHERE status = :status",
        query_params=PARAMS,
        visualization_config=CHART,
    )


def change_url(artifact: Artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def textarea(content: str, name: str) -> tuple[str, str]:
    """(the textarea's attributes, its text) for the field `name`."""
    match = re.search(rf'<textarea name="{name}"([^>]*)>(.*?)</textarea>', content, re.S)
    assert match, f"no textarea for {name}"
    return match.group(1), html.unescape(match.group(2))


def row_of(content: str, name: str) -> str:
    """The admin's form row of the field `name`: its errors, its input, its help."""
    start = content.index('class="form-row')
    rows = content[start:].split('<div class="form-row')
    return next(row for row in rows if f'name="{name}"' in row)


def test_json_fields_are_indented_in_a_monospace_editor_sized_to_them(staff_client, artifact):
    content = staff_client.get(change_url(artifact)).content.decode()

    # Indented by two; the keys in the order the database keeps them (jsonb sorts them).
    artifact.refresh_from_db()
    attrs, text = textarea(content, "query_params")
    assert artifact.query_params == PARAMS
    assert text.strip() == json.dumps(artifact.query_params, indent=2)
    assert "monospace" in attrs and 'spellcheck="false"' in attrs
    assert f'rows="{json.dumps(artifact.query_params, indent=2).count(chr(10)) + 2}"' in attrs

    attrs, text = textarea(content, "visualization_config")
    assert artifact.visualization_config == CHART
    assert text.strip() == json.dumps(artifact.visualization_config, indent=2)
    assert '\n  "encoding": {\n    "x": {' in text


def test_a_long_value_gets_a_bounded_editor(staff_client, artifact):
    many = [{"name": f"p{i}", "type": "integer", "label": f"P {i}"} for i in range(40)]
    Artifact.objects.filter(pk=artifact.pk).update(query_params=many)
    attrs, _ = textarea(staff_client.get(change_url(artifact)).content.decode(), "query_params")
    assert 'rows="40"' in attrs


def test_json_that_does_not_parse_is_kept_as_typed_with_the_error_at_its_field(
    staff_client, artifact
):
    typed = '[{"name": "status", "type": "string",}]'
    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, query_params=typed)
    )

    assert response.status_code == 200
    content = response.content.decode()
    _, text = textarea(content, "query_params")
    assert text.strip() == typed
    row = row_of(content, "query_params")
    assert 'class="errorlist' in row and "This is not valid JSON" in html.unescape(row)
    assert "errorlist" not in row_of(content, "visualization_config")
    artifact.refresh_from_db()
    assert artifact.query_params == PARAMS


def test_a_declaration_the_model_refuses_shows_at_its_field(staff_client, artifact):
    wrong = json.dumps([{"name": "status", "type": "colour"}])
    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, query_params=wrong)
    )

    assert response.status_code == 200
    row = html.unescape(row_of(response.content.decode(), "query_params"))
    assert 'class="errorlist' in row and "colour" in row
    # The rejected text stays in the editor, indented as the server read it.
    assert '"type": "colour"' in row


def test_other_users_cannot_open_the_admin_form(client, other_user, artifact):
    client.force_login(other_user)
    response = client.get(change_url(artifact))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url
