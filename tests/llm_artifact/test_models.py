from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def errors_for(artifact: Artifact) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc_info:
        artifact.full_clean()
    return exc_info.value.message_dict


def test_a_valid_artifact_passes_full_clean(owner):
    artifact = ArtifactFactory.build(owner=owner)
    artifact.full_clean()


def test_defaults_are_active_sql_query_with_no_runs(owner):
    artifact = ArtifactFactory(owner=owner)
    assert artifact.status == Artifact.Status.ACTIVE
    assert artifact.artifact_type == Artifact.ArtifactType.SQL_QUERY
    assert artifact.execution_count == 0
    assert artifact.last_executed_at is None
    assert artifact.visualization_config == {}
    assert artifact.query_params == []


def test_rejects_empty_sql(owner):
    artifact = ArtifactFactory.build(owner=owner, sql_query="   ")
    assert "sql_query" in errors_for(artifact)


def test_database_refuses_empty_sql_even_without_full_clean(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        ArtifactFactory(owner=owner, sql_query="")


def test_rejects_unknown_status_and_type(owner):
    artifact = ArtifactFactory.build(owner=owner, status="archived", artifact_type="notebook")
    errors = errors_for(artifact)
    assert "status" in errors
    assert "artifact_type" in errors


def test_database_refuses_unknown_status(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        ArtifactFactory(owner=owner, status="archived")


def test_rejects_unknown_data_source(owner):
    artifact = ArtifactFactory.build(owner=owner, data_source="warehouse")
    assert "Unknown data source" in errors_for(artifact)["data_source"][0]


@pytest.mark.parametrize("config", [[], "bar", 3, None])
def test_visualization_config_must_be_an_object(owner, config):
    artifact = ArtifactFactory.build(owner=owner, visualization_config=config)
    assert "visualization_config" in errors_for(artifact)


@pytest.mark.parametrize(
    ("declarations", "message"),
    [
        ({"name": "x"}, "must be a list"),
        ([{"name": "1st", "type": "string"}], "must be an identifier"),
        ([{"name": "a b", "type": "string"}], "must be an identifier"),
        ([{"name": "x", "type": "text"}], "is not one of"),
        ([{"name": "x", "type": "integer"}, {"name": "x", "type": "integer"}], "declared twice"),
        ([{"name": "x", "type": "integer", "default": "ten"}], "does not match its type"),
        ([{"name": "x", "type": "date", "default": "31/12/2024"}], "does not match its type"),
        ([{"name": "x", "type": "boolean", "required": "yes"}], "required must be true or false"),
        ([{"name": "x", "type": "string", "colour": "red"}], "unknown keys"),
        (["x"], "must be an object"),
    ],
)
def test_rejects_malformed_parameter_declarations(owner, declarations, message):
    artifact = ArtifactFactory.build(owner=owner, query_params=declarations)
    errors = errors_for(artifact)["query_params"]
    assert any(message in error for error in errors), errors


def test_accepts_every_parameter_type_with_matching_defaults(owner):
    artifact = ArtifactFactory.build(
        owner=owner,
        sql_query=(
            "SELECT * FROM orders WHERE status = :status AND total >= :min_total "
            "AND customer_id = :customer AND ordered_at >= :since AND ordered_at < :until "
            "AND (:only_big = 0 OR total > 100)"
        ),
        query_params=[
            {"name": "status", "type": "string", "label": "Status", "default": "paid"},
            {"name": "min_total", "type": "number", "default": 9.5},
            {"name": "customer", "type": "integer", "default": 3, "required": True},
            {"name": "since", "type": "date", "default": "2024-01-01"},
            {"name": "until", "type": "datetime", "default": "2024-02-01 00:00"},
            {"name": "only_big", "type": "boolean", "default": False},
        ],
    )
    artifact.full_clean()


def test_sql_preview_keeps_the_first_lines(owner):
    sql = "\n".join(f"-- line {n}" for n in range(10)) + "\nSELECT 1"
    artifact = ArtifactFactory.build(owner=owner, sql_query=sql)
    assert artifact.sql_preview.startswith("-- line 0")
    assert "-- line 5" in artifact.sql_preview
    assert "-- line 6" not in artifact.sql_preview
    assert artifact.sql_preview.endswith("…")


def test_visible_to_scopes_artifacts_to_their_owner(owner, other_user, staff):
    mine = ArtifactFactory(owner=owner)
    theirs = ArtifactFactory(owner=other_user)
    assert list(Artifact.objects.visible_to(owner)) == [mine]
    assert list(Artifact.objects.visible_to(other_user)) == [theirs]
    assert set(Artifact.objects.visible_to(staff)) == {mine, theirs}


@pytest.mark.parametrize("status", Artifact.Status.values)
def test_database_accepts_every_status_the_model_offers(owner, status):
    # The constraint is built from the choices: a new member needs no hand-edited list.
    ArtifactFactory(owner=owner, status=status)


def test_database_accepts_every_run_outcome_the_model_offers(owner):
    artifact = ArtifactFactory(owner=owner)
    for outcome in ArtifactRun.Outcome.values:
        ArtifactRun.objects.create(artifact=artifact, outcome=outcome, data_source="marketplace")
    assert artifact.runs.count() == len(ArtifactRun.Outcome.values)
