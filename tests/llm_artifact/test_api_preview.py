"""POST /api/sql/run/: the editor's Run of unsaved SQL, in the execute endpoint's shape,
through the same guard and executor, and recorded nowhere."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.llm_artifact.models import ArtifactRun
from apps.llm_artifact.throttling import PreviewRunThrottle
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

RUN_URL = reverse("api:sql-preview-run")
SINCE = [{"name": "since", "type": "date", "default": "2024-03-01"}]


def preview(client, **body):
    return client.post(RUN_URL, {"data_source": "marketplace", **body}, format="json")


def test_preview_returns_rows_like_execute_and_records_nothing(owner_api, owner, shop):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT 1 AS n", query_params=[])

    response = preview(
        owner_api,
        sql="SELECT id FROM orders WHERE ordered_at >= :since ORDER BY id",
        declarations=SINCE,
    )

    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == [{"name": "id", "type": "integer"}]
    assert body["rows"] == [[6], [7], [8], [9], [10]]
    assert (body["row_count"], body["truncated"], body["run_id"]) == (5, False, None)
    assert ArtifactRun.objects.count() == 0
    artifact.refresh_from_db()
    assert artifact.execution_count == 0


def test_params_are_coerced_by_the_declarations(owner_api, shop):
    response = preview(
        owner_api,
        sql="SELECT COUNT(*) AS n FROM orders WHERE ordered_at >= :since",
        declarations=SINCE,
        params={"since": "2024-04-01"},
    )

    assert response.json()["rows"] == [[2]]


def test_bad_value_is_a_400_keyed_by_parameter(owner_api, shop):
    response = preview(
        owner_api, sql="SELECT :since AS d", declarations=SINCE, params={"since": "soon"}
    )

    assert response.status_code == 400
    assert "since" in response.json()["params"]


def test_bad_declarations_are_a_400(owner_api, shop):
    response = preview(owner_api, sql="SELECT 1", declarations=[{"name": "x", "type": "blob"}])

    assert response.status_code == 400
    assert response.json()["declarations"]


def test_undeclared_parameter_fails_without_running(owner_api, shop):
    response = preview(owner_api, sql="SELECT :since AS d")

    assert response.status_code == 400
    assert response.json()["outcome"] == "error"
    assert ":since" in response.json()["detail"]


def test_writing_sql_is_rejected_by_the_guard(owner_api, shop):
    response = preview(owner_api, sql="DELETE FROM orders")

    assert response.status_code == 400
    assert response.json()["outcome"] == "rejected"
    assert ArtifactRun.objects.count() == 0


def test_unknown_data_source_is_a_400(owner_api, shop):
    response = owner_api.post(RUN_URL, {"sql": "SELECT 1", "data_source": "nowhere"}, format="json")

    assert response.status_code == 400
    assert "data_source" in response.json()


@pytest.mark.parametrize("persona", ["owner_api", "other_api", "staff_api"])
def test_every_signed_in_user_may_preview(request, persona, shop):
    response = preview(request.getfixturevalue(persona), sql="SELECT 1 AS one")

    assert response.status_code == 200
    assert response.json()["rows"] == [[1]]


def test_anonymous_is_refused(api_client, shop):
    assert preview(api_client, sql="SELECT 1").status_code == 401


def test_previews_above_the_limit_are_a_429_saying_when_to_try_again(
    owner_api, other_api, shop, monkeypatch
):
    monkeypatch.setattr(PreviewRunThrottle, "THROTTLE_RATES", {"sql-preview": "3/minute"})
    for _ in range(3):
        assert preview(owner_api, sql="SELECT 1 AS n").status_code == 200

    response = preview(owner_api, sql="SELECT 1 AS n")

    assert response.status_code == 429
    assert response.json() == {
        "detail": "Too many preview runs in a short time: run again in 60 seconds."
    }
    assert response["Retry-After"] == "60"
    # Per user: another one still previews.
    assert preview(other_api, sql="SELECT 1 AS n").status_code == 200
