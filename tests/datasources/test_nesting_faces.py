"""Deeply nested SQL is a clean validation error on every face that checks SQL, never a 500:
the API's validate, artifact create and update, and the executor that the pages, the
command line and the agent's run_sql tool share."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.datasources.executor import QueryFailed, execute
from apps.datasources.guard import MAX_NESTING_DEPTH
from apps.llm_artifact.models import Artifact
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

TOO_DEEP = [
    pytest.param("SELECT " + "(" * 60 + "1" + ")" * 60, id="brackets"),
    pytest.param("SELECT " + "(SELECT " * 45 + "1" + ")" * 45, id="subqueries"),
    pytest.param("SELECT " + "NOT " * 3000 + "1", id="not_chain"),
]
AT_THE_LIMIT = "SELECT " + "(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH


@pytest.fixture(autouse=True)
def shop(tmp_path, settings):
    return sample.use_sqlite(tmp_path, settings)


@pytest.mark.parametrize("sql", TOO_DEEP)
def test_validate_answers_invalid_with_the_reason(owner_api, sql):
    response = owner_api.post(reverse("api:sql-validate"), {"sql": sql}, format="json")

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "nested too deeply" in response.json()["error"]


def test_validate_accepts_nesting_at_the_limit(owner_api):
    response = owner_api.post(reverse("api:sql-validate"), {"sql": AT_THE_LIMIT}, format="json")

    body = response.json()
    assert (body["valid"], body["error"], body["parameters"]) == (True, None, [])
    assert body["diagnostics"] == []


@pytest.mark.parametrize("sql", TOO_DEEP)
def test_create_is_a_400_naming_the_sql_field(owner_api, sql):
    response = owner_api.post(
        reverse("api:artifact-list"), {"title": "Deep", "sql_query": sql}, format="json"
    )

    assert response.status_code == 400
    assert "nested too deeply" in " ".join(response.json()["sql_query"])
    assert not Artifact.objects.exists()


@pytest.mark.parametrize("sql", TOO_DEEP)
def test_update_is_a_400_and_keeps_the_artifact(owner_api, owner, sql):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT 1 AS one")

    response = owner_api.patch(
        reverse("api:artifact-detail", args=[artifact.pk]), {"sql_query": sql}, format="json"
    )

    assert response.status_code == 400
    assert "nested too deeply" in " ".join(response.json()["sql_query"])
    artifact.refresh_from_db()
    assert artifact.sql_query == "SELECT 1 AS one"


@pytest.mark.parametrize("sql", TOO_DEEP)
def test_the_executor_refuses_before_running(sql):
    with pytest.raises(QueryFailed) as caught:
        execute("marketplace", sql)

    assert caught.value.outcome == "rejected"
    assert "nested too deeply" in caught.value.message


def test_the_executor_runs_nesting_at_the_limit():
    assert execute("marketplace", AT_THE_LIMIT).rows == [(1,)]


@pytest.mark.parametrize("sql", TOO_DEEP)
def test_format_is_a_400_naming_the_sql_field(owner_api, sql):
    response = owner_api.post(reverse("api:sql-format"), {"sql": sql}, format="json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["sql"][0]


@pytest.mark.parametrize("sql", TOO_DEEP)
def test_preview_run_is_a_400_rejected(owner_api, sql):
    response = owner_api.post(reverse("api:sql-preview-run"), {"sql": sql}, format="json")

    assert response.status_code == 400
    assert response.json()["outcome"] == "rejected"
    assert "nested too deeply" in response.json()["detail"]
