"""The workbench pages without JavaScript: New artifact, an artifact's SQL and parameters
(check, format, preview, declare in place, save, save as new) and Duplicate, as the owner,
another user (404), staff, and group members who may see (403 on edits) or edit."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.sharing import Visibility
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.throttling import PreviewRunThrottle
from tests.conftest import share
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

NEW_URL = reverse("llm_artifact:artifact_new")
STATUS_SQL = "SELECT status, COUNT(*) AS orders FROM orders WHERE status = :status GROUP BY status"


def management(total: int, initial: int = 0) -> dict:
    return {
        "params-TOTAL_FORMS": str(total),
        "params-INITIAL_FORMS": str(initial),
        "params-MIN_NUM_FORMS": "0",
        "params-MAX_NUM_FORMS": "1000",
    }


def parameter(index: int, name: str, type_: str = "string", **fields) -> dict:
    row = {"name": name, "type": type_, "ORDER": str(index + 1), **fields}
    return {f"params-{index}-{key}": value for key, value in row.items() if value is not None}


def posted(action: str = "save", *, sql: str = STATUS_SQL, params: list[dict] = (), **fields):
    data = {
        "title": "Orders in a status",
        "data_source": "marketplace",
        "sql_query": sql,
        "visualization_config": "",
        "action": action,
        **management(len(params)),
        **fields,
    }
    for row in params:
        data.update(row)
    return data


STATUS_PARAM = parameter(0, "status", label="Status", default="paid")


@pytest.fixture
def artifact(owner, shop):
    return ArtifactFactory(
        owner=owner,
        sql_query=STATUS_SQL,
        query_params=[{"name": "status", "type": "string", "default": "paid"}],
    )


def workbench_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:artifact_workbench", args=[artifact.pk])


def duplicate_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:artifact_duplicate", args=[artifact.pk])


# --- New artifact --------------------------------------------------------------------------


def test_new_artifact_page_offers_the_editor_and_the_sources(owner_client, shop):
    response = owner_client.get(NEW_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "data-sql-editor" in page
    assert '<option value="marketplace" selected>' in page
    assert "sql-editor/sql-editor.js" in page


def test_new_artifact_is_saved_as_the_users_private_artifact(owner_client, owner, shop):
    response = owner_client.post(NEW_URL, posted(params=[STATUS_PARAM]))

    artifact = Artifact.objects.get()
    assert response.status_code == 302
    assert response.url == artifact.get_absolute_url()
    assert (artifact.owner, artifact.visibility) == (owner, Visibility.PRIVATE)
    assert artifact.sql_query == STATUS_SQL
    assert artifact.query_params == [
        {
            "name": "status",
            "type": "string",
            "label": "Status",
            "required": False,
            "default": "paid",
        }
    ]


def test_relative_date_default_is_kept_as_its_expression(owner_client, shop):
    sql = "SELECT COUNT(*) AS n FROM orders WHERE ordered_at >= :since"
    row = parameter(0, "since", "date", default="start_of_month -1 month", help_text="From when")
    response = owner_client.post(NEW_URL, posted(sql=sql, params=[row]))

    assert response.status_code == 302
    declaration = Artifact.objects.get().query_params[0]
    assert declaration["default"] == "start_of_month -1 month"
    assert declaration["help_text"] == "From when"


def test_typed_defaults_are_stored_as_their_type(owner_client, shop):
    sql = "SELECT * FROM orders WHERE total >= :min_total LIMIT :n"
    rows = [
        parameter(0, "min_total", "number", default="10.5"),
        parameter(1, "n", "integer", default="5"),
    ]
    assert owner_client.post(NEW_URL, posted(sql=sql, params=rows)).status_code == 302
    assert [d["default"] for d in Artifact.objects.get().query_params] == [10.5, 5]


def test_check_flags_a_typoed_column_with_a_suggestion_and_saves_nothing(owner_client, shop):
    response = owner_client.post(NEW_URL, posted("check", sql="SELECT totl FROM orders"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "did you mean" in page and "total" in page
    assert not Artifact.objects.exists()


def test_save_refuses_unknown_columns_and_undeclared_parameters(owner_client, shop):
    response = owner_client.post(NEW_URL, posted(sql="SELECT totl FROM orders WHERE id = :id"))

    assert response.status_code == 422
    page = response.content.decode()
    assert "Not saved" in page
    assert "not declared" in page
    assert not Artifact.objects.exists()


def test_bad_parameter_default_is_shown_beside_its_row(owner_client, shop):
    row = parameter(0, "n", "integer", default="many")
    response = owner_client.post(NEW_URL, posted(sql="SELECT * FROM orders LIMIT :n", params=[row]))

    assert response.status_code == 422
    assert "does not match its type" in response.content.decode()
    assert not Artifact.objects.exists()


def test_a_parameter_declared_twice_is_refused(owner_client, shop):
    rows = [parameter(0, "status"), parameter(1, "status")]
    response = owner_client.post(NEW_URL, posted(params=rows))
    assert response.status_code == 422
    assert "declared twice" in response.content.decode()


def test_format_lays_out_the_sql_and_keeps_parameters(owner_client, shop):
    response = owner_client.post(NEW_URL, posted("format", params=[STATUS_PARAM]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Formatted." in page
    assert "WHERE\n  status = :status" in page
    assert not Artifact.objects.exists()


def test_preview_shows_the_rows_and_records_nothing(owner_client, shop):
    response = owner_client.post(NEW_URL, posted("preview", params=[STATUS_PARAM]))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="workbench-preview"' in page
    assert "<td" in page and "paid" in page
    assert not Artifact.objects.exists()
    assert not ArtifactRun.objects.exists()


def test_preview_reports_a_failing_query_in_plain_words(owner_client, shop):
    response = owner_client.post(NEW_URL, posted("preview", sql="DELETE FROM orders"))
    assert response.status_code == 200
    assert "alert-danger" in response.content.decode()


def test_previews_above_the_limit_are_refused_with_when_to_try_again(
    owner_client, other_user, shop, monkeypatch
):
    monkeypatch.setattr(PreviewRunThrottle, "THROTTLE_RATES", {"sql-preview": "2/minute"})
    for _ in range(2):
        assert (
            owner_client.post(NEW_URL, posted("preview", params=[STATUS_PARAM])).status_code == 200
        )

    refused = owner_client.post(NEW_URL, posted("preview", params=[STATUS_PARAM]))

    page = refused.content.decode()
    assert refused.status_code == 429
    assert "Too many preview runs in a short time: run again in 60 seconds." in page
    assert "<td" not in page  # nothing ran
    # The form is still there, as typed.
    assert "WHERE status = :status" in page
    # The API's preview counts against the same limit.
    api = owner_client.post(
        reverse("api:sql-preview-run"),
        {"data_source": "marketplace", "sql": "SELECT 1 AS n"},
        content_type="application/json",
    )
    assert api.status_code == 429
    # Another user is not affected.
    other = Client()
    other.force_login(other_user)
    assert other.post(NEW_URL, posted("preview", params=[STATUS_PARAM])).status_code == 200


def test_undeclared_parameter_is_offered_and_declared_in_place(owner_client, shop):
    sql = "SELECT * FROM orders WHERE ordered_at >= :start_date LIMIT :limit"
    checked = owner_client.post(NEW_URL, posted("check", sql=sql)).content.decode()
    assert 'name="declare" value="start_date"' in checked
    assert 'name="declare" value="limit"' in checked

    declared = owner_client.post(NEW_URL, {**posted("check", sql=sql), "declare": "start_date"})
    page = declared.content.decode()
    assert 'name="params-0-name" value="start_date"' in page
    # Its type guessed from its name.
    assert '<option value="date" selected>' in page
    assert 'name="params-TOTAL_FORMS" value="1"' in page


def test_unused_declaration_is_flagged(owner_client, shop):
    rows = [STATUS_PARAM, parameter(1, "country")]
    response = owner_client.post(NEW_URL, posted("check", params=rows))
    page = response.content.decode()
    assert "not used in the SQL" in page
    assert "declared but the SQL no longer uses :country" in page


def test_add_parameter_without_javascript_adds_a_blank_row_that_is_ignored_if_left(
    owner_client, shop
):
    added = owner_client.post(NEW_URL, posted("add", params=[STATUS_PARAM]))
    assert 'name="params-TOTAL_FORMS" value="2"' in added.content.decode()

    blank = {"params-1-name": "", "params-1-type": "string", "params-1-ORDER": "2"}
    data = {**posted(params=[STATUS_PARAM]), **management(2), **blank}
    assert owner_client.post(NEW_URL, data).status_code == 302
    assert [d["name"] for d in Artifact.objects.get().query_params] == ["status"]


def test_parameters_are_saved_in_the_order_chosen_and_removed_ones_dropped(owner_client, shop):
    sql = "SELECT * FROM orders WHERE status = :b AND total > :a"
    rows = [
        parameter(0, "a", "number", ORDER="2"),
        parameter(1, "b", ORDER="1"),
        parameter(2, "gone", ORDER="3", DELETE="on"),
    ]
    assert owner_client.post(NEW_URL, posted(sql=sql, params=rows)).status_code == 302
    assert [d["name"] for d in Artifact.objects.get().query_params] == ["b", "a"]


def test_only_sources_the_user_may_use_are_offered(client, other_user, shop, settings):
    from django.contrib.auth.models import Group

    from apps.datasources.models import DataSourceGrant, DataSourcePolicy

    policy = DataSourcePolicy.objects.create(source="marketplace")
    DataSourceGrant.objects.create(policy=policy, group=Group.objects.create(name="analysts"))
    client.force_login(other_user)

    assert '<option value="marketplace"' not in client.get(NEW_URL).content.decode()
    response = client.post(NEW_URL, posted())
    assert response.status_code == 422
    assert not Artifact.objects.exists()


def test_new_artifact_page_asks_a_pinned_number_of_queries(
    owner_client, shop, django_assert_max_num_queries
):
    owner_client.get(NEW_URL)
    with django_assert_max_num_queries(6):
        assert owner_client.get(NEW_URL).status_code == 200


# --- An artifact's workbench ------------------------------------------------------------------


def test_owner_opens_the_workbench_with_its_sql_and_parameters(owner_client, artifact):
    response = owner_client.get(workbench_url(artifact))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="params-0-name" value="status"' in page
    assert "No problems found." in page
    assert f'data-draft-key="artifact-{artifact.pk}"' in page


def test_workbench_asks_a_pinned_number_of_queries(
    owner_client, artifact, django_assert_max_num_queries
):
    url = workbench_url(artifact)
    owner_client.get(url)
    with django_assert_max_num_queries(8):
        assert owner_client.get(url).status_code == 200


def test_other_user_gets_404(client, other_user, artifact):
    client.force_login(other_user)
    assert client.get(workbench_url(artifact)).status_code == 404
    assert client.post(workbench_url(artifact), posted()).status_code == 404
    assert client.post(duplicate_url(artifact)).status_code == 404
    assert Artifact.objects.count() == 1


def test_group_viewer_gets_403_on_the_workbench(client, group_viewer, team, artifact):
    share(artifact, team)
    client.force_login(group_viewer)

    assert client.get(artifact.get_absolute_url()).status_code == 200
    assert client.get(workbench_url(artifact)).status_code == 403
    response = client.post(workbench_url(artifact), posted(title="Hijacked", params=[STATUS_PARAM]))
    assert response.status_code == 403
    artifact.refresh_from_db()
    assert artifact.title != "Hijacked"


def test_group_editor_saves_sql_and_parameters(client, group_editor, editors, artifact):
    share(artifact, editors, edit=[editors])
    client.force_login(group_editor)
    sql = "SELECT status FROM orders WHERE total > :min_total"
    row = parameter(0, "min_total", "number", default="100")

    response = client.post(workbench_url(artifact), posted(sql=sql, params=[row], title="Big"))

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert (artifact.title, artifact.sql_query) == ("Big", sql)
    assert artifact.query_params[0]["name"] == "min_total"
    assert artifact.owner.username == "owner"


def test_save_asks_again_whether_the_user_may_edit(client, group_editor, editors, artifact):
    share(artifact, editors, edit=[editors])
    client.force_login(group_editor)
    assert client.get(workbench_url(artifact)).status_code == 200
    artifact.shares.update(can_edit=False)  # taken back while the page was open

    response = client.post(workbench_url(artifact), posted(title="Late", params=[STATUS_PARAM]))

    assert response.status_code == 403
    artifact.refresh_from_db()
    assert artifact.title != "Late"


def test_staff_may_edit_another_users_artifact(staff_client, artifact):
    assert staff_client.get(workbench_url(artifact)).status_code == 200
    response = staff_client.post(
        workbench_url(artifact), posted(title="By staff", params=[STATUS_PARAM])
    )
    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.title == "By staff"


def test_save_keeps_the_run_statistics(owner_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(execution_count=7)
    owner_client.post(workbench_url(artifact), posted(params=[STATUS_PARAM]))
    artifact.refresh_from_db()
    assert artifact.execution_count == 7


def test_save_as_new_makes_a_private_copy_and_leaves_the_original(
    client, group_editor, editors, artifact
):
    share(artifact, editors, edit=[editors])
    client.force_login(group_editor)

    response = client.post(
        workbench_url(artifact), posted("save_new", title="Mine now", params=[STATUS_PARAM])
    )

    copy = Artifact.objects.exclude(pk=artifact.pk).get()
    assert response.status_code == 302 and response.url == copy.get_absolute_url()
    assert (copy.owner, copy.visibility, copy.title) == (
        group_editor,
        Visibility.PRIVATE,
        "Mine now",
    )
    assert not copy.shares.exists()
    artifact.refresh_from_db()
    assert artifact.title != "Mine now"


# --- Duplicate and the links ----------------------------------------------------------------------


def test_duplicate_gives_the_viewer_a_private_copy_without_runs(
    client, group_viewer, team, artifact, owner
):
    share(artifact, team)
    ArtifactRun.objects.create(
        artifact=artifact, outcome="ok", data_source="marketplace", row_count=3
    )
    Artifact.objects.filter(pk=artifact.pk).update(execution_count=1, status="failed")
    client.force_login(group_viewer)

    response = client.post(duplicate_url(artifact))

    copy = Artifact.objects.exclude(pk=artifact.pk).get()
    assert response.status_code == 302 and response.url == copy.get_absolute_url()
    assert copy.title == f"Copy of {artifact.title}"
    assert (copy.owner, copy.visibility) == (group_viewer, Visibility.PRIVATE)
    assert (copy.sql_query, copy.query_params) == (artifact.sql_query, artifact.query_params)
    assert (copy.execution_count, copy.runs.count(), copy.status) == (0, 0, "active")
    assert copy.chat is None and not copy.shares.exists()
    # The copy is the viewer's to edit.
    assert client.get(workbench_url(copy)).status_code == 200


def test_duplicate_is_post_only(owner_client, artifact):
    assert owner_client.get(duplicate_url(artifact)).status_code == 405


def test_artifact_page_links_to_the_workbench_for_editors_only(
    client, owner_client, group_viewer, team, artifact
):
    page = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert workbench_url(artifact) in page
    assert duplicate_url(artifact) in page
    assert reverse("llm_chat:chat_about_artifact", args=[artifact.pk]) in page

    share(artifact, team)
    client.force_login(group_viewer)
    page = client.get(artifact.get_absolute_url()).content.decode()
    assert workbench_url(artifact) not in page
    assert duplicate_url(artifact) in page


def test_artifact_list_links_to_new_artifact(owner_client, shop):
    page = owner_client.get(reverse("llm_artifact:artifact_list")).content.decode()
    assert NEW_URL in page


def test_a_post_without_the_parameter_forms_is_answered_not_crashed(owner_client, shop):
    response = owner_client.post(NEW_URL, {"action": "save", "title": "x"})
    assert response.status_code == 422
    assert not Artifact.objects.exists()


def test_changing_the_sql_clears_the_verified_mark_unless_kept(owner_client, owner, artifact):
    artifact.verify(owner, question="How many orders in a status?")
    sql = STATUS_SQL + " ORDER BY orders DESC"

    owner_client.post(workbench_url(artifact), posted(sql=sql, params=[STATUS_PARAM]))
    artifact.refresh_from_db()
    assert not artifact.is_verified

    # Fetched afresh: main's save() compares with the SQL as loaded, which refresh_from_db
    # leaves behind.
    artifact = Artifact.objects.get(pk=artifact.pk)
    artifact.verify(owner)
    page = owner_client.get(workbench_url(artifact)).content.decode()
    assert 'name="keep_verified"' in page
    data = posted(sql=STATUS_SQL, params=[STATUS_PARAM], keep_verified="on")
    owner_client.post(workbench_url(artifact), data)
    artifact.refresh_from_db()
    assert artifact.is_verified and artifact.sql_query == STATUS_SQL


def test_every_bad_row_input_is_reported_beside_it(owner_client, shop):
    row = parameter(0, "status", "colour", ORDER="first", help_text="x" * 600)
    response = owner_client.post(NEW_URL, posted(params=[row]))
    page = response.content.decode()
    assert response.status_code == 422
    assert "Select a valid choice" in page
    assert "Enter a whole number" in page
    assert "at most 500 characters" in page
    assert not Artifact.objects.exists()


def test_check_treats_tables_the_source_does_not_expose_as_missing(owner_client, shop):
    from apps.datasources.models import DataSourcePolicy, ExposedTable

    policy = DataSourcePolicy.objects.create(source="marketplace")
    ExposedTable.objects.create(policy=policy, name="orders", hidden_columns=["total"])

    def checked(sql: str) -> str:
        return owner_client.post(NEW_URL, posted("check", sql=sql)).content.decode()

    # Refused by the guard (or flagged as missing), never passed as fine.
    problems = re.findall(
        r'<li class="workbench-problem text-danger"[^>]*>(.*?)</li>',
        checked("SELECT c.email FROM customers c"),
        flags=re.S,
    )
    assert any("customers" in problem for problem in problems)
    page = checked("SELECT totl FROM orders")
    assert "workbench-problem text-danger" in page
    assert "did you mean `total`" not in page


# --- The chart ------------------------------------------------------------------------------

TYPO_CHART = (
    '{"data": {"name": "results"}, "mark": "bar", '
    '"encoding": {"x": {"field": "statu", "type": "nominal"}, '
    '"y": {"field": "orders", "type": "quantitative"}}}'
)


def test_the_chart_is_checked_against_the_previews_columns(owner_client, shop):
    response = owner_client.post(
        NEW_URL,
        posted("preview", params=[STATUS_PARAM], visualization_config=TYPO_CHART),
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="chart-editor-check"' in page
    assert '<code class="chart-problem-path">encoding.x.field</code>' in page
    assert "Did you mean &quot;status&quot;?" in page
    assert 'aria-invalid="true"' in page
    # What was typed stays in the field.
    assert "statu" in page


def test_the_chart_check_alone_answers_htmx_as_it_is_typed(owner_client, shop):
    response = owner_client.post(
        NEW_URL,
        posted("chart", visualization_config='{"mark": '),
        headers={"HX-Request": "true"},
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="chart-editor-check"')
    assert "This is not valid JSON" in page
    assert "<form" not in page
    assert not Artifact.objects.exists()

    fixed = owner_client.post(
        NEW_URL,
        posted("chart", visualization_config=TYPO_CHART.replace("statu", "status")),
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "Valid Vega-Lite" in fixed
    assert "chart-problem" not in fixed


def test_saving_a_broken_chart_is_refused_with_the_problem_beside_it(owner_client, shop):
    response = owner_client.post(
        NEW_URL,
        posted(
            params=[STATUS_PARAM],
            visualization_config='{"data": {"name": "results"}, "mark": "barr"}',
        ),
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert "Not saved: fix what is marked below." in page
    assert '<code class="chart-problem-path">mark</code>' in page
    assert "&quot;barr&quot; is not allowed here" in page
    assert not Artifact.objects.exists()


def test_the_workbench_of_a_run_artifact_checks_the_chart_against_its_latest_result(
    owner_client, artifact
):
    owner_client.post(reverse("llm_artifact:artifact_run", args=[artifact.pk]), {"status": "paid"})
    assert artifact.runs.count() == 1
    artifact.visualization_config = {
        "data": {"name": "results"},
        "mark": "bar",
        "encoding": {"x": {"field": "statu", "type": "nominal"}},
    }
    artifact.save(update_fields=["visualization_config"])

    page = owner_client.get(workbench_url(artifact)).content.decode()

    assert '<code class="chart-problem-path">encoding.x.field</code>' in page
    assert "Did you mean &quot;status&quot;?" in page
