"""Running artifacts: the run history, statistics and status transitions, typed
parameters, and SQL validation on save."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

PAID_ORDERS = (
    "SELECT id, total FROM orders WHERE status = :status AND total >= :minimum ORDER BY id"
)
PARAMS = [
    {"name": "status", "type": "string", "default": "paid"},
    {"name": "minimum", "type": "number", "required": True},
]
RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


def test_a_good_run_is_recorded_and_counted(shop: Path, owner) -> None:
    artifact = ArtifactFactory(owner=owner, sql_query=PAID_ORDERS, query_params=PARAMS)
    run, result = run_artifact(artifact, user=owner, raw_params={"minimum": "100"})
    assert run.outcome == ArtifactRun.Outcome.OK
    assert result.rows == [(1, 120.5), (4, 250.0), (10, 310.0)]
    assert (run.row_count, run.truncated, run.error) == (3, False, "")
    assert run.user == owner
    assert run.params == {"status": "paid", "minimum": 100.0}
    assert run.data_source == "marketplace"
    assert run.duration_ms > 0
    assert run.started_at is not None
    artifact.refresh_from_db()
    assert artifact.execution_count == 1
    assert artifact.last_executed_at is not None
    assert artifact.status == Artifact.Status.ACTIVE
    assert list(artifact.runs.all()) == [run]


def test_each_good_run_counts_even_from_stale_copies(shop: Path, owner) -> None:
    artifact = ArtifactFactory(owner=owner)
    stale = Artifact.objects.get(pk=artifact.pk)
    run_artifact(artifact, user=owner, raw_params={})
    run_artifact(stale, user=owner, raw_params={})
    run_artifact(artifact, user=owner, raw_params={})
    artifact.refresh_from_db()
    assert artifact.execution_count == 3
    assert artifact.runs.count() == 3


def test_a_failed_run_marks_the_artifact_failed_with_the_error(shop: Path, owner) -> None:
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT nope FROM orders")
    run, result = run_artifact(artifact, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.ERROR
    assert run.error == "no such column: nope"
    assert result is None
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED
    assert artifact.last_error == "no such column: nope"
    assert artifact.execution_count == 0
    assert artifact.last_executed_at is None


def test_a_timed_out_run_marks_the_artifact_failed(shop: Path, owner, settings) -> None:
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}?timeout=1"
    artifact = ArtifactFactory(owner=owner, sql_query=RUNAWAY)
    run, _ = run_artifact(artifact, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.TIMEOUT
    assert "1 s limit" in run.error
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED


def test_a_rejected_run_changes_nothing_in_the_data_source(shop: Path, owner) -> None:
    before = sample.sqlite_fingerprint(shop)
    # Stored without full_clean, as a bulk tool could: the run still refuses it.
    artifact = ArtifactFactory(owner=owner, sql_query="DELETE FROM orders")
    run, _ = run_artifact(artifact, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.REJECTED
    assert "DELETE" in run.error
    assert sample.sqlite_fingerprint(shop) == before
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.FAILED


def test_a_good_run_brings_a_failed_artifact_back_to_active(shop: Path, owner) -> None:
    artifact = ArtifactFactory(owner=owner, status=Artifact.Status.FAILED, last_error="old")
    run_artifact(artifact, user=owner, raw_params={})
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.ACTIVE
    assert artifact.last_error == ""


@pytest.mark.parametrize("status", [Artifact.Status.DRAFT, Artifact.Status.DEPRECATED])
@pytest.mark.parametrize("sql", ["SELECT count(*) FROM orders", "SELECT nope FROM orders"])
def test_runs_do_not_change_draft_or_deprecated_status(shop: Path, owner, status, sql) -> None:
    artifact = ArtifactFactory(owner=owner, status=status, sql_query=sql)
    run_artifact(artifact, user=owner, raw_params={})
    artifact.refresh_from_db()
    assert artifact.status == status


def test_a_run_does_not_undo_a_deprecation_made_while_it_ran(shop: Path, owner) -> None:
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT nope FROM orders")
    Artifact.objects.filter(pk=artifact.pk).update(status=Artifact.Status.DEPRECATED)
    run_artifact(artifact, user=owner, raw_params={})  # `artifact` still says active
    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.DEPRECATED


def test_the_run_artifact_knows_what_the_database_decided(shop: Path, owner) -> None:
    # Without a refresh: the statistics and the status come back from the one UPDATE.
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT nope FROM orders")
    stale = Artifact.objects.get(pk=artifact.pk)
    Artifact.objects.filter(pk=artifact.pk).update(
        status=Artifact.Status.DEPRECATED, execution_count=5
    )
    run_artifact(stale, user=owner, raw_params={})
    assert (stale.status, stale.execution_count) == (Artifact.Status.DEPRECATED, 5)
    assert stale.last_error == "no such column: nope"
    Artifact.objects.filter(pk=artifact.pk).update(sql_query="SELECT 1")
    stale.sql_query = "SELECT 1"
    run_artifact(stale, user=owner, raw_params={})
    assert (stale.status, stale.execution_count, stale.last_error) == (
        Artifact.Status.DEPRECATED,
        6,
        "",
    )
    stale.refresh_from_db()
    assert stale.execution_count == 6
    assert stale.last_executed_at is not None


def test_defaults_apply_and_values_are_coerced(shop: Path, owner) -> None:
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT :flag AS flag, :day AS day, :n AS n, :label AS label",
        query_params=[
            {"name": "flag", "type": "boolean", "default": "yes"},
            {"name": "day", "type": "date"},
            {"name": "n", "type": "integer", "default": 3},
            {"name": "label", "type": "string"},
        ],
    )
    run, result = run_artifact(artifact, user=owner, raw_params={"day": "2024-02-29", "n": "7"})
    assert result.rows == [(1, "2024-02-29", 7, None)]
    assert run.params == {"flag": True, "day": "2024-02-29", "n": 7, "label": None}


@pytest.mark.parametrize(
    ("raw", "name", "message"),
    [
        ({}, "minimum", "is required"),
        ({"minimum": "lots"}, "minimum", "expected a number"),
        ({"minimum": "5", "colour": "red"}, "colour", "Unknown parameter"),
    ],
)
def test_bad_parameter_values_name_the_parameter_and_record_nothing(
    shop: Path, owner, raw, name, message
) -> None:
    artifact = ArtifactFactory(owner=owner, sql_query=PAID_ORDERS, query_params=PARAMS)
    with pytest.raises(ValidationError) as caught:
        run_artifact(artifact, user=owner, raw_params=raw)
    assert message in caught.value.message_dict[name][0]
    assert not ArtifactRun.objects.exists()
    artifact.refresh_from_db()
    assert (artifact.status, artifact.execution_count) == (Artifact.Status.ACTIVE, 0)


def test_a_parameter_value_is_only_ever_data(shop: Path, owner) -> None:
    before = sample.sqlite_fingerprint(shop)
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT count(*) AS n FROM orders WHERE status = :status",
        query_params=[{"name": "status", "type": "string"}],
    )
    run, result = run_artifact(
        artifact, user=owner, raw_params={"status": "'; DROP TABLE orders; --"}
    )
    assert run.outcome == ArtifactRun.Outcome.OK
    assert result.rows == [(0,)]
    assert sample.sqlite_fingerprint(shop) == before


def test_an_undeclared_parameter_fails_the_run_and_says_so(shop: Path, owner) -> None:
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT * FROM orders WHERE id = :order_id")
    run, _ = run_artifact(artifact, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.ERROR
    assert "uses :order_id, which is not declared" in run.error


def test_a_data_source_that_is_gone_fails_the_run(shop: Path, owner, settings) -> None:
    artifact = ArtifactFactory(owner=owner)
    settings.DATA_SOURCES = f"elsewhere=sqlite:///{shop}"
    run, _ = run_artifact(artifact, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.ERROR
    assert "Unknown data source 'marketplace'" in run.error


def test_a_run_without_a_user_is_recorded_without_one(shop: Path, owner) -> None:
    from django.contrib.auth.models import AnonymousUser

    artifact = ArtifactFactory(owner=owner)
    assert run_artifact(artifact, user=None, raw_params={}).run.user is None
    assert run_artifact(artifact, user=AnonymousUser(), raw_params={}).run.user is None


def test_runs_follow_their_artifact_and_outlive_their_user(shop: Path, owner, other_user) -> None:
    artifact = ArtifactFactory(owner=owner)
    run, _ = run_artifact(artifact, user=other_user, raw_params={})
    other_user.delete()
    run.refresh_from_db()
    assert run.user is None
    artifact.delete()
    assert not ArtifactRun.objects.exists()


def test_runs_are_visible_like_their_artifacts(shop: Path, owner, other_user, staff) -> None:
    mine, _ = run_artifact(ArtifactFactory(owner=owner), user=owner, raw_params={})
    theirs, _ = run_artifact(ArtifactFactory(owner=other_user), user=other_user, raw_params={})
    assert list(ArtifactRun.objects.visible_to(owner)) == [mine]
    assert list(ArtifactRun.objects.visible_to(other_user)) == [theirs]
    assert set(ArtifactRun.objects.visible_to(staff)) == {mine, theirs}


# --- validation on save ------------------------------------------------------------------


def _sql_errors(artifact: Artifact) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        artifact.full_clean()
    return caught.value.message_dict["sql_query"]


def test_saving_sql_that_writes_is_a_field_error(shop: Path, owner) -> None:
    artifact = ArtifactFactory.build(owner=owner, sql_query="UPDATE orders SET total = 0")
    assert "this statement is UPDATE" in _sql_errors(artifact)[0]


def test_saving_sql_that_does_not_parse_is_a_field_error(shop: Path, owner) -> None:
    artifact = ArtifactFactory.build(owner=owner, sql_query="SELECT FROM WHERE (")
    assert _sql_errors(artifact)[0].startswith("The SQL could not be parsed")


def test_saving_sql_with_an_undeclared_parameter_is_a_field_error(shop: Path, owner) -> None:
    artifact = ArtifactFactory.build(
        owner=owner,
        sql_query="SELECT * FROM orders WHERE status = :status AND id > :after",
        query_params=[{"name": "status", "type": "string"}],
    )
    assert _sql_errors(artifact) == [
        "The SQL uses :after, which is not declared as a parameter. "
        "Declare 'after' or remove :after from the SQL."
    ]


def test_saving_sql_with_declared_parameters_passes(shop: Path, owner) -> None:
    ArtifactFactory.build(owner=owner, sql_query=PAID_ORDERS, query_params=PARAMS).full_clean()


def test_sql_is_checked_in_the_dialect_of_the_artifacts_data_source(
    shop: Path, owner, settings
) -> None:
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop} warehouse=postgresql://reader@db/shop"
    # Each engine's functions are on its own allow-list only.
    lite = "SELECT julianday('now')"
    ArtifactFactory.build(owner=owner, sql_query=lite, data_source="marketplace").full_clean()
    errors = _sql_errors(
        ArtifactFactory.build(owner=owner, sql_query=lite, data_source="warehouse")
    )
    assert "julianday() is not allowed" in errors[0]
    pg = "SELECT split_part('a-b', '-', 1)"
    ArtifactFactory.build(owner=owner, sql_query=pg, data_source="warehouse").full_clean()
    assert (
        "split_part() is not allowed"
        in _sql_errors(ArtifactFactory.build(owner=owner, sql_query=pg, data_source="marketplace"))[
            0
        ]
    )
