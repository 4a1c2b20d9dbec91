"""The artifact admin's SQL field is the SQL editor's textarea, and saving checks the SQL's
tables and columns as the editor does."""

from __future__ import annotations

import html
import json

import pytest
from django.urls import reverse

from tests.llm_artifact.factories import ArtifactFactory, admin_form_data

pytestmark = pytest.mark.django_db


def change_url(artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def test_change_form_renders_the_editor_textarea_and_its_script(staff_client, owner, shop):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT id FROM orders")

    page = staff_client.get(change_url(artifact)).content.decode()

    assert 'name="sql_query"' in page
    assert "data-sql-editor" in page
    assert f'data-draft-key="{artifact.pk}"' in page
    assert 'data-declarations-field="query_params"' in page
    assert 'data-validate-url="/api/sql/validate/"' in page
    assert 'data-schema-url="/api/data-sources/__name__/schema/"' in page
    dialects = page.split('data-dialects="', 1)[1].split('"', 1)[0]
    assert json.loads(html.unescape(dialects)) == {"marketplace": "sqlite"}
    assert "sql-editor/sql-editor.js" in page
    # Without JavaScript the textarea holds the SQL and posts it.
    assert ">\nSELECT id FROM orders</textarea>" in page


def test_add_form_keeps_its_draft_under_new(staff_client, shop):
    page = staff_client.get(reverse("admin:llm_artifact_artifact_add")).content.decode()

    assert 'data-draft-key="new"' in page


def test_saving_an_unknown_column_shows_the_suggestion(staff_client, owner, shop):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT id FROM orders")

    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, sql_query="SELECT totl FROM orders")
    )

    assert response.status_code == 200
    assert "no column `totl` in `orders`; did you mean `total`?" in response.content.decode()
    artifact.refresh_from_db()
    assert artifact.sql_query == "SELECT id FROM orders"


def test_saving_valid_sql_through_the_editor_field(staff_client, owner, shop):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT id FROM orders")

    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, sql_query="SELECT total FROM orders")
    )

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.sql_query == "SELECT total FROM orders"
