"""Running artifacts over the API: POST /api/artifacts/{id}/execute/ and the run history at
GET /api/artifacts/{id}/runs/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

ORDERS_SINCE = (
    "SELECT id, status, total, ordered_at FROM orders "
    "WHERE status = :status AND ordered_at >= :since AND total >= :minimum ORDER BY id"
)
DECLARATIONS = [
    {"name": "status", "type": "string", "default": "paid"},
    {"name": "since", "type": "date", "required": True},
    {"name": "minimum", "type": "number", "default": 0},
]
RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


@pytest.fixture
def shop(tmp_path: Path, settings) -> Path:
    return sample.use_sqlite(tmp_path, settings, name="shop")


@pytest.fixture
def artifact(shop: Path, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner,
        title="Paid orders since",
        data_source="shop",
        sql_query=ORDERS_SINCE,
        query_params=DECLARATIONS,
    )


def execute_url(artifact: Artifact) -> str:
    return reverse("api:artifact-execute", args=[artifact.pk])


def runs_url(artifact: Artifact) -> str:
    return reverse("api:artifact-runs", args=[artifact.pk])


def saved_unchecked(artifact: Artifact, sql: str) -> Artifact:
    # SQL saved before the guard existed (or by a bulk tool): update() skips validation.
    Artifact.objects.filter(pk=artifact.pk).update(sql_query=sql)
    artifact.refresh_from_db()
    return artifact


# --- execute: results and typed parameters ---------------------------------------------------


def test_owner_runs_with_typed_parameters(owner_api, owner, artifact):
    response = owner_api.post(
        execute_url(artifact),
        {"params": {"since": "2024-02-01", "minimum": "100"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["columns"] == [
        {"name": "id", "type": "integer"},
        {"name": "status", "type": "text"},
        {"name": "total", "type": "number"},
        {"name": "ordered_at", "type": "datetime"},
    ]
    assert body["rows"] == [
        [4, "paid", 250.0, "2024-02-10 18:45:00"],
        [10, "paid", 310.0, "2024-04-18 19:30:00"],
    ]
    assert body["row_count"] == 2
    assert body["truncated"] is False
    assert body["duration_ms"] > 0
    run = ArtifactRun.objects.get()
    assert body["run_id"] == run.pk
    assert run.outcome == ArtifactRun.Outcome.OK
    assert run.user == owner
    assert run.params == {"status": "paid", "since": "2024-02-01", "minimum": 100.0}
    assert (run.row_count, run.data_source) == (2, "shop")


def test_defaults_apply_to_left_out_parameters(owner_api, artifact):
    response = owner_api.post(
        execute_url(artifact), {"params": {"since": "2024-01-01"}}, format="json"
    )

    assert response.status_code == 200
    assert [row[0] for row in response.json()["rows"]] == [1, 4, 9, 10]
    assert ArtifactRun.objects.get().params["status"] == "paid"


def test_json_typed_values_are_accepted_as_they_are(owner_api, artifact):
    response = owner_api.post(
        execute_url(artifact),
        {"params": {"since": "2024-01-01", "status": "delivered", "minimum": 50}},
        format="json",
    )

    assert response.status_code == 200
    assert [row[0] for row in response.json()["rows"]] == [6]


def test_an_artifact_without_parameters_runs_without_a_body(owner_api, owner, shop):
    artifact = ArtifactFactory(owner=owner, data_source="shop")

    response = owner_api.post(execute_url(artifact), format="json")

    assert response.status_code == 200
    assert response.json()["columns"] == [
        {"name": "status", "type": "text"},
        {"name": "orders", "type": "integer"},
    ]
    assert response.json()["rows"][0] == ["paid", 4]


def test_statistics_and_status_are_updated(owner_api, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(status=Artifact.Status.FAILED, last_error="x")

    for _ in range(2):
        response = owner_api.post(
            execute_url(artifact), {"params": {"since": "2024-01-01"}}, format="json"
        )
        assert response.status_code == 200

    artifact.refresh_from_db()
    assert artifact.execution_count == 2
    assert artifact.last_executed_at is not None
    assert artifact.status == Artifact.Status.ACTIVE
    assert artifact.last_error == ""
    assert artifact.runs.count() == 2


def test_rows_beyond_the_display_cap_are_cut_and_flagged(owner_api, owner, shop, settings):
    settings.DATA_SOURCES = f"shop=sqlite:///{shop}?max_rows=3"
    artifact = ArtifactFactory(
        owner=owner, data_source="shop", sql_query="SELECT id FROM orders ORDER BY id"
    )

    body = owner_api.post(execute_url(artifact), format="json").json()

    assert body["rows"] == [[1], [2], [3]]
    assert (body["row_count"], body["truncated"]) == (3, True)
    assert ArtifactRun.objects.get().truncated is True


def test_infinite_numbers_come_back_as_null(owner_api, owner, shop):
    artifact = ArtifactFactory(
        owner=owner, data_source="shop", sql_query="SELECT 9e999 AS big, -9e999 AS small, 1.5"
    )

    response = owner_api.post(execute_url(artifact), format="json")

    assert response.status_code == 200
    assert response.json()["rows"] == [[None, None, 1.5]]


# --- execute: bad parameter values are 400s that name the parameter --------------------------


@pytest.mark.parametrize(
    ("params", "name", "words"),
    [
        ({}, "since", "Parameter 'since' is required."),
        ({"since": ""}, "since", "Parameter 'since' is required."),
        ({"since": "last tuesday"}, "since", "expected a date as YYYY-MM-DD"),
        ({"since": "2024-01-01", "minimum": "lots"}, "minimum", "expected a number"),
        ({"since": "2024-01-01", "minimum": [1]}, "minimum", "expected a number"),
        ({"since": "2024-01-01", "colour": "red"}, "colour", "Unknown parameter 'colour'"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(owner_api, artifact, params, name, words):
    response = owner_api.post(execute_url(artifact), {"params": params}, format="json")

    assert response.status_code == 400
    errors = response.json()["params"]
    assert words in " ".join(errors[name]), errors
    assert not ArtifactRun.objects.exists()
    artifact.refresh_from_db()
    assert artifact.execution_count == 0


def test_params_that_are_not_an_object_are_a_400(owner_api, artifact):
    response = owner_api.post(execute_url(artifact), {"params": ["2024-01-01"]}, format="json")

    assert response.status_code == 400
    assert "params" in response.json()
    assert not ArtifactRun.objects.exists()


def test_a_form_encoded_body_is_refused(owner_api, artifact):
    response = owner_api.post(execute_url(artifact), {"params": "since=2024-01-01"})

    assert response.status_code == 415
    assert not ArtifactRun.objects.exists()


# --- execute: failed runs are 400s, and recorded -----------------------------------------------


def test_a_write_saved_before_the_guard_is_rejected_and_changes_nothing(owner_api, shop, artifact):
    saved_unchecked(artifact, "DELETE FROM orders")
    before = sample.sqlite_fingerprint(shop)

    response = owner_api.post(
        execute_url(artifact), {"params": {"since": "2024-01-01"}}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["outcome"] == "rejected"
    assert "DELETE" in body["detail"]
    run = ArtifactRun.objects.get()
    assert body["run_id"] == run.pk
    assert (run.outcome, run.error) == ("rejected", body["detail"])
    assert sample.sqlite_fingerprint(shop) == before
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED
    assert artifact.last_error == body["detail"]
    assert artifact.execution_count == 0


def test_an_sql_error_is_a_400_in_plain_words(owner_api, owner, shop):
    artifact = ArtifactFactory(owner=owner, data_source="shop", sql_query="SELECT * FROM nowhere")

    response = owner_api.post(execute_url(artifact), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "no such table: nowhere",
        "outcome": "error",
        "run_id": ArtifactRun.objects.get().pk,
    }


def test_a_runaway_query_times_out_as_a_400(owner_api, owner, shop, settings):
    settings.DATA_SOURCES = f"shop=sqlite:///{shop}?timeout=0.3"
    artifact = ArtifactFactory(owner=owner, data_source="shop", sql_query=RUNAWAY)

    response = owner_api.post(execute_url(artifact), format="json")

    assert response.status_code == 400
    assert response.json()["outcome"] == "timeout"
    assert "0.3 s limit" in response.json()["detail"]
    assert ArtifactRun.objects.get().outcome == ArtifactRun.Outcome.TIMEOUT


# --- execute: who may run what ---------------------------------------------------------------


def test_other_user_gets_404_and_nothing_runs(other_api, artifact):
    response = other_api.post(
        execute_url(artifact), {"params": {"since": "2024-01-01"}}, format="json"
    )

    assert response.status_code == 404
    assert not ArtifactRun.objects.exists()
    artifact.refresh_from_db()
    assert artifact.execution_count == 0


def test_staff_runs_anyones_artifact_as_themselves(staff_api, staff, artifact):
    response = staff_api.post(
        execute_url(artifact), {"params": {"since": "2024-01-01"}}, format="json"
    )

    assert response.status_code == 200
    assert ArtifactRun.objects.get().user == staff


def test_anonymous_is_refused(api_client, artifact):
    response = api_client.post(
        execute_url(artifact), {"params": {"since": "2024-01-01"}}, format="json"
    )

    assert response.status_code == 401
    assert not ArtifactRun.objects.exists()


def test_execute_only_accepts_post(owner_api, artifact):
    assert owner_api.get(execute_url(artifact)).status_code == 405


# --- run history ---------------------------------------------------------------------------


def record(artifact: Artifact, user, minutes_ago: int, **fields) -> ArtifactRun:
    fields.setdefault("outcome", ArtifactRun.Outcome.OK)
    return artifact.record_run(
        user=user,
        started_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        params={"since": "2024-01-01"},
        **fields,
    )


def test_owner_lists_runs_newest_first_with_every_field(owner_api, owner, staff, artifact):
    older = record(artifact, owner, 30, row_count=4, duration_ms=2.5)
    newer = record(
        artifact, staff, 5, outcome=ArtifactRun.Outcome.TIMEOUT, error="Too slow.", truncated=True
    )
    record(ArtifactFactory(owner=owner, data_source="shop"), owner, 1)

    response = owner_api.get(runs_url(artifact))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [run["id"] for run in body["results"]] == [newer.pk, older.pk]
    assert body["results"][0] == {
        "id": newer.pk,
        "outcome": "timeout",
        "started_at": body["results"][0]["started_at"],
        "duration_ms": 0.0,
        "row_count": 0,
        "truncated": True,
        "error": "Too slow.",
        "error_detail": None,  # staff only
        "params": {"since": "2024-01-01"},
        "data_source": "shop",
        "user": "staff",
    }
    assert body["results"][1]["user"] == "owner"
    assert body["results"][1]["row_count"] == 4
    assert body["results"][1]["duration_ms"] == 2.5
    started = dt.datetime.fromisoformat(body["results"][1]["started_at"])
    assert abs(started - older.started_at) < dt.timedelta(seconds=1)


def test_runs_of_a_deleted_user_show_no_user(owner_api, artifact):
    from tests.conftest import UserFactory

    gone = UserFactory(username="gone")
    record(artifact, gone, 1)
    gone.delete()

    assert owner_api.get(runs_url(artifact)).json()["results"][0]["user"] is None


def test_runs_are_paginated(owner_api, owner, artifact):
    for minutes in range(5):
        record(artifact, owner, minutes)

    page = owner_api.get(runs_url(artifact), {"page_size": 2, "page": 3}).json()

    assert page["count"] == 5
    assert len(page["results"]) == 1
    assert page["next"] is None


def test_a_parameter_named_like_a_list_filter_does_not_filter_the_lookup(owner_api, artifact):
    # ?status= is the artifact list's filter; the actions must not apply it to get_object().
    record(artifact, artifact.owner, 1)

    response = owner_api.get(runs_url(artifact), {"status": "no-such-status", "search": "x"})

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_run_history_query_count_does_not_grow_with_runs(
    owner_api, owner, staff, artifact, django_assert_max_num_queries
):
    # The artifact, the requester's groups and the data-source grants (the run history's
    # permission asks whether they may use its source), a COUNT and the page of runs.
    for minutes in range(3):
        record(artifact, owner if minutes % 2 else staff, minutes)
    with django_assert_max_num_queries(5):
        owner_api.get(runs_url(artifact))
    for minutes in range(3, 30):
        record(artifact, owner if minutes % 2 else staff, minutes)
    with django_assert_max_num_queries(5):
        response = owner_api.get(runs_url(artifact))
    assert len(response.json()["results"]) == 25


def test_other_user_gets_404_for_the_runs(other_api, owner, artifact):
    record(artifact, owner, 1)

    assert other_api.get(runs_url(artifact)).status_code == 404


def test_staff_lists_anyones_runs(staff_api, owner, artifact):
    record(artifact, owner, 1)

    response = staff_api.get(runs_url(artifact))

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_anonymous_is_refused_the_runs(api_client, owner, artifact):
    record(artifact, owner, 1)

    assert api_client.get(runs_url(artifact)).status_code == 401


def test_execute_and_runs_are_documented(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()
    execute = schema["paths"]["/api/artifacts/{id}/execute/"]["post"]
    runs = schema["paths"]["/api/artifacts/{id}/runs/"]["get"]

    def ref(content: dict) -> str:
        return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    assert set(execute["requestBody"]["content"]) == {"application/json"}
    assert ref(execute["requestBody"]["content"]) == "ExecuteRequest"
    assert ref(execute["responses"]["200"]["content"]) == "QueryResult"
    # The view's own errors, or a body that is not JSON (added by apps.core.openapi).
    bad_request = execute["responses"]["400"]["content"]["application/json"]["schema"]
    assert [ref["$ref"].rsplit("/", 1)[-1] for ref in bad_request["oneOf"]] == [
        "ExecuteError",
        "ErrorDetail",
    ]
    assert ref(runs["responses"]["200"]["content"]) == "PaginatedArtifactRunList"
    # The list's filters are not the actions' parameters.
    assert {p["name"] for p in runs["parameters"]} == {"id", "page", "page_size", "cursor"}
    result = schema["components"]["schemas"]["QueryResult"]["properties"]
    assert set(result) == {"columns", "rows", "row_count", "truncated", "duration_ms", "run_id"}


@pytest.mark.postgres
def test_execute_on_postgresql_types_the_columns(owner_api, owner, postgres_url, settings):
    from tests.postgres import shop_database

    with shop_database(postgres_url, sample.load_postgres) as database:
        settings.DATA_SOURCES = f"pg={database.reader_url}"
        artifact = ArtifactFactory(
            owner=owner, data_source="pg", sql_query=ORDERS_SINCE, query_params=DECLARATIONS
        )

        response = owner_api.post(
            execute_url(artifact), {"params": {"since": "2024-02-01"}}, format="json"
        )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["columns"] == [
        {"name": "id", "type": "integer"},
        {"name": "status", "type": "text"},
        {"name": "total", "type": "number"},
        {"name": "ordered_at", "type": "datetime"},
    ]
    assert body["rows"] == [
        [4, "paid", 250, "2024-02-10 18:45:00"],
        [9, "paid", 18.75, "2024-04-02 10:05:00"],
        [10, "paid", 310, "2024-04-18 19:30:00"],
    ]
