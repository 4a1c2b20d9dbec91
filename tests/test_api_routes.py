"""The API's routes: a format suffix only where it names a file type."""

from __future__ import annotations

import pytest

from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/data-sources.json"),
        ("get", "/api/data-sources/marketplace/schema.json"),
        ("post", "/api/sql/validate.json"),
        ("get", "/api/chats.json"),
        ("post", "/api/artifacts/{pk}/execute.json"),
        ("get", "/api/artifacts/{pk}/runs.json"),
        ("get", "/api/artifacts/{pk}.json"),
    ],
)
def test_a_json_suffix_is_not_a_route(owner_api, owner, method, path):
    artifact = ArtifactFactory(owner=owner)

    response = getattr(owner_api, method)(path.format(pk=artifact.pk), format="json")

    # It was a route answering 500 (the actions take no `format`); JSON is the only format.
    assert response.status_code == 404


def test_the_file_answers_keep_their_suffix(owner_api, owner):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT 1 AS n", query_params=[])

    export = owner_api.get(f"/api/artifacts/{artifact.pk}/export.json")

    assert export.status_code == 200
    assert export["Content-Type"].startswith("application/json")
