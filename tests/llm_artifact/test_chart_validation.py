"""Charts checked on save: runs record their result's columns, and the model, the forms and
the API check an artifact's Vega-Lite spec against the columns of its latest good run."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.llm_artifact.forms import ArtifactChartForm, ArtifactEditForm
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import export_artifact, run_artifact
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

STATUS_SQL = "SELECT status, COUNT(*) AS orders, SUM(total) AS revenue FROM orders GROUP BY status"
RESULTS = {"name": "results"}


def bar(x: str = "status", y: str = "orders", **extra) -> dict:
    return {
        "data": RESULTS,
        "mark": "bar",
        "encoding": {
            "x": {"field": x, "type": "nominal"},
            "y": {"field": y, "type": "quantitative"},
        },
        **extra,
    }


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(owner=owner, title="Orders by status", sql_query=STATUS_SQL)


@pytest.fixture
def ran(artifact, owner) -> Artifact:
    """The artifact after one good run: its columns are status, orders, revenue."""
    run, _ = run_artifact(artifact, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.OK
    return artifact


def chart_errors(artifact: Artifact) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        artifact.full_clean()
    return caught.value.message_dict["visualization_config"]


# --- runs keep their columns ------------------------------------------------------------------


def test_a_good_run_records_the_result_columns(ran):
    run = ran.runs.get()
    assert run.columns == [
        {"name": "status", "type": "text"},
        {"name": "orders", "type": "integer"},
        {"name": "revenue", "type": "number"},
    ]
    assert ran.last_result_columns() == run.columns


def test_a_failed_run_records_no_columns(shop, owner):
    broken = ArtifactFactory(owner=owner, sql_query="SELECT nope FROM orders")
    run, _ = run_artifact(broken, user=owner, raw_params={})
    assert run.outcome == ArtifactRun.Outcome.ERROR
    assert run.columns is None
    assert broken.last_result_columns() is None


def test_an_export_records_the_columns_too(artifact, owner):
    export = export_artifact(artifact, user=owner, raw_params={}, export_format="csv")
    b"".join(export)
    export.close()
    assert export.run.outcome == ArtifactRun.Outcome.OK
    assert [c["name"] for c in export.run.columns] == ["status", "orders", "revenue"]
    assert [c["name"] for c in artifact.last_result_columns()] == ["status", "orders", "revenue"]


def test_no_columns_are_known_before_a_run_or_after_the_sql_changed(artifact, owner):
    assert artifact.last_result_columns() is None
    run_artifact(artifact, user=owner, raw_params={})
    assert artifact.last_result_columns() is not None

    artifact.sql_query = "SELECT status AS state FROM orders"
    # The recorded columns belong to the old SQL: they may no longer exist.
    assert artifact.last_result_columns() is None


def test_the_latest_good_run_counts_not_a_later_failure(ran, owner):
    ran.record_run(user=owner, outcome="error", started_at=ran.created_at, params={}, error="x")
    assert [c["name"] for c in ran.last_result_columns()] == ["status", "orders", "revenue"]


def test_runs_on_another_data_source_do_not_count(ran):
    ran.data_source = "elsewhere"
    assert ran.last_result_columns() is None


def test_last_result_columns_is_one_query_or_none_when_annotated(ran, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert ran.last_result_columns() is not None
    annotated = Artifact.objects.with_last_result_columns().get(pk=ran.pk)
    with django_assert_num_queries(0):
        assert [c["name"] for c in annotated.last_result_columns()] == [
            "status",
            "orders",
            "revenue",
        ]
        assert annotated.visualization_problems() == []


def test_an_annotated_artifact_learns_the_columns_of_its_own_new_run(artifact, owner):
    annotated = Artifact.objects.with_last_result_columns().get(pk=artifact.pk)
    assert annotated.last_result_columns() is None
    run_artifact(annotated, user=owner, raw_params={})
    assert annotated.last_result_columns() is not None


# --- the model -------------------------------------------------------------------------------


def test_a_spec_drawing_result_columns_is_valid(ran):
    ran.visualization_config = bar(title="Orders by status")
    ran.full_clean()
    assert ran.visualization_problems() == []


def test_a_field_that_is_not_a_column_is_refused_with_its_path(ran):
    ran.visualization_config = bar(y="ordres")
    [message] = chart_errors(ran)
    assert message.startswith("encoding.y.field: ")
    assert '"ordres"' in message and 'Did you mean "orders"?' in message


def test_without_a_run_fields_are_not_checked_and_that_is_a_warning(artifact):
    artifact.visualization_config = bar(y="order_count")
    artifact.full_clean()  # saved, with a warning
    [problem] = artifact.visualization_problems()
    assert problem.severity == "warning"
    assert "no successful run yet" in problem.message


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({**bar(), "data": {"values": [{"status": "paid", "orders": 1}]}}, "data.values"),
        ({**bar(), "data": {"url": "https://example.com/orders.csv"}}, "data.url"),
        ({**bar(), "mark": "barz"}, "mark"),
        ({**bar(), "encoding": {"x": {"field": "status", "type": "nominl"}}}, "encoding.x.type"),
    ],
    ids=["inline data", "url data", "unknown mark", "bad encoding type"],
)
def test_invalid_specs_are_refused_with_the_path_named(ran, spec, path):
    ran.visualization_config = spec
    assert any(message.startswith(f"{path}: ") for message in chart_errors(ran))


def test_schema_errors_are_caught_even_before_any_run(artifact):
    artifact.visualization_config = {**bar(), "data": {"url": "https://example.com/x.csv"}}
    assert chart_errors(artifact) == [
        'data.url: Loading data from a URL is not allowed; use "data": {"name": "results"}, '
        "the rows of the artifact's run."
    ]


def test_an_empty_config_means_a_table_and_is_valid(ran):
    ran.visualization_config = {}
    ran.full_clean()
    assert ran.visualization_problems() == []


# --- forms -----------------------------------------------------------------------------------


def test_chart_form_saves_a_valid_spec_and_refuses_an_unknown_field(ran):
    good = ArtifactChartForm({"visualization_config": json.dumps(bar())}, instance=ran)
    assert good.is_valid(), good.errors
    good.save()
    ran.refresh_from_db()
    assert ran.visualization_config == bar()

    bad = ArtifactChartForm({"visualization_config": json.dumps(bar(x="state"))}, instance=ran)
    assert not bad.is_valid()
    assert bad.errors["visualization_config"][0].startswith("encoding.x.field: ")


def test_chart_form_reads_blank_as_table_only_and_says_where_json_breaks(ran):
    blank = ArtifactChartForm({"visualization_config": "  "}, instance=ran)
    assert blank.is_valid()
    assert blank.cleaned_data["visualization_config"] == {}

    broken = ArtifactChartForm({"visualization_config": '{"mark": "bar",\n}'}, instance=ran)
    assert not broken.is_valid()
    [message] = broken.errors["visualization_config"]
    assert message.startswith("This is not valid JSON:") and "line 2, column 1" in message


def test_a_chart_outdated_by_a_run_does_not_block_editing_the_title(ran, owner):
    Artifact.objects.filter(pk=ran.pk).update(visualization_config=bar(y="order_count"))
    ran.refresh_from_db()
    form = ArtifactEditForm(
        {"title": "Renamed", "status": "active", "description": "", "comment": ""},
        instance=ran,
    )
    assert form.is_valid(), form.errors
    # ... while the chart editor, which edits it, reports it.
    chart_form = ArtifactChartForm(
        {
            "visualization_config": '{"data": {"name": "results"}, "mark": "bar", '
            '"encoding": {"y": {"field": "order_count", "type": "quantitative"}}}'
        },
        instance=ran,
    )
    assert not chart_form.is_valid()


# --- the API ---------------------------------------------------------------------------------


def detail_url(artifact: Artifact) -> str:
    return reverse("api:artifact-detail", args=[artifact.pk])


def test_api_refuses_an_unknown_field_with_its_path(owner_api, ran):
    response = owner_api.patch(
        detail_url(ran), {"visualization_config": bar(x="state")}, format="json"
    )
    assert response.status_code == 400
    [message] = response.json()["visualization_config"]
    assert message.startswith("encoding.x.field: ")
    ran.refresh_from_db()
    assert ran.visualization_config == {}


def test_api_refuses_inline_data_on_create(owner_api, shop):
    spec = {**bar(), "data": {"values": [{"status": "paid"}]}}
    response = owner_api.post(
        reverse("api:artifact-list"),
        {"title": "Inline", "sql_query": STATUS_SQL, "visualization_config": spec},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["visualization_config"][0].startswith("data.values: ")
    assert not Artifact.objects.exists()


def test_api_answers_with_the_warnings_of_a_chart_saved_before_any_run(owner_api, shop):
    response = owner_api.post(
        reverse("api:artifact-list"),
        {"title": "Charted", "sql_query": STATUS_SQL, "visualization_config": bar()},
        format="json",
    )
    assert response.status_code == 201
    [warning] = response.json()["visualization_problems"]
    assert warning["severity"] == "warning" and warning["path"] == ""


def test_api_shows_no_problems_once_a_run_confirms_the_fields(owner_api, ran):
    Artifact.objects.filter(pk=ran.pk).update(visualization_config=bar())
    body = owner_api.get(detail_url(ran)).json()
    assert body["visualization_problems"] == []


def test_api_shows_errors_a_later_run_revealed(owner_api, ran, owner):
    Artifact.objects.filter(pk=ran.pk).update(visualization_config=bar())
    ran.refresh_from_db()
    ran.sql_query = "SELECT status AS state, COUNT(*) AS orders FROM orders GROUP BY 1"
    ran.save()
    run_artifact(ran, user=owner, raw_params={})

    [problem] = owner_api.get(detail_url(ran)).json()["visualization_problems"]
    assert problem["path"] == "encoding.x.field" and problem["severity"] == "error"


@pytest.mark.parametrize("rows", [3, 30])
def test_api_list_checks_charts_without_a_query_per_row(
    owner_api, owner, shop, rows, django_assert_max_num_queries
):
    for _ in range(rows):
        artifact = ArtifactFactory(owner=owner, sql_query=STATUS_SQL, visualization_config=bar())
        run_artifact(artifact, user=owner, raw_params={})

    # The page and its COUNT, the page's shares, and the requester's groups and the
    # data-source grants (once, for can_edit and can_manage): none of them per row.
    with django_assert_max_num_queries(5):
        response = owner_api.get(reverse("api:artifact-list"), {"page_size": 100})

    results = response.json()["results"]
    assert len(results) == rows
    assert all(row["visualization_problems"] == [] for row in results)
