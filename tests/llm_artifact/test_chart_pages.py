"""Charts on the pages: the run panel and the chat card carry the chart and its rows for
vega-embed, and the chart editor checks, suggests, saves and removes a spec (htmx and plain
forms alike)."""

from __future__ import annotations

import json
import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from apps.llm_artifact.cards import ArtifactCard
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact
from tests.llm_artifact.factories import BAR, ArtifactFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
STATUS_SQL = (
    "SELECT status, COUNT(*) AS orders, ROUND(SUM(total), 2) AS revenue FROM orders "
    "GROUP BY status ORDER BY orders DESC, status"
)


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(
        owner=owner, title="Orders by status", sql_query=STATUS_SQL, visualization_config=BAR
    )


@pytest.fixture
def table_only(shop, owner) -> Artifact:
    return ArtifactFactory(owner=owner, title="Orders table", sql_query=STATUS_SQL)


def chart_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:artifact_chart", args=[artifact.pk])


def json_scripts(content: str) -> list:
    """Every json_script payload in the page, parsed."""
    return [
        json.loads(text)
        for text in re.findall(
            r'<script type="application/json"[^>]*>(.*?)</script>', content, re.S
        )
    ]


def chart_payloads(content: str) -> list[dict]:
    return [p for p in json_scripts(content) if isinstance(p, dict) and "datasets" in p]


def editor_text(content: str) -> str:
    match = re.search(r'<textarea name="visualization_config"[^>]*>(.*?)</textarea>', content, re.S)
    assert match, "no chart editor"
    # As a browser reads it: HTML drops one newline right after <textarea>.
    return match.group(1).removeprefix("\n")


def editor_spec(content: str):
    """What the editor's preview draws (#chart-editor-spec)."""
    match = re.search(
        r'<script id="chart-editor-spec" type="application/json">(.*?)</script>', content, re.S
    )
    assert match, "no checked spec"
    return json.loads(match.group(1))


# --- the run panel and the chat card --------------------------------------------------------


def test_a_run_on_the_page_carries_the_chart_and_all_its_rows(owner_client, artifact):
    response = owner_client.post(reverse("llm_artifact:artifact_run", args=[artifact.pk]), {})
    content = response.content.decode()

    assert response.status_code == 200
    assert 'data-chart="page"' in content
    [payload] = chart_payloads(content)
    assert payload["spec"] == BAR
    assert payload["errors"] == []
    rows = payload["datasets"]["results"]
    assert rows[0] == {"status": "paid", "orders": 4, "revenue": 699.25}
    assert len(rows) == 6
    # The chart comes above the table.
    assert content.index('data-chart="page"') < content.index("result-table")


def test_the_chart_says_it_shows_the_first_rows_of_a_truncated_result(
    owner_client, artifact, settings
):
    settings.DATA_SOURCE_MAX_ROWS = 3
    content = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), {}, headers=HTMX
    ).content.decode()
    [payload] = chart_payloads(content)
    assert len(payload["datasets"]["results"]) == 3
    assert payload["spec"]["title"]["subtitle"] == "Showing the first 3 rows"


def test_a_table_only_artifact_gives_the_rows_to_the_editor_without_a_chart(
    owner_client, table_only
):
    content = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[table_only.pk]), {}, headers=HTMX
    ).content.decode()
    [payload] = chart_payloads(content)
    assert payload["spec"] is None and len(payload["datasets"]["results"]) == 6
    assert re.search(r'data-chart="page"[^>]*hidden', content)


def test_a_chart_that_does_not_fit_the_result_says_why_above_the_table(
    owner_client, artifact, owner
):
    run_artifact(artifact, user=owner, raw_params={})
    stale = {
        **BAR,
        "encoding": {**BAR["encoding"], "y": {"field": "total", "type": "quantitative"}},
    }
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config=stale)

    content = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), {}, headers=HTMX
    ).content.decode()

    assert "The chart cannot be drawn over this result" in content
    assert "<code>encoding.y.field</code>" in content
    assert 'class="table table-sm table-striped' in content


def test_card_run_draws_the_chart_small_with_the_rows_folded(owner_client, artifact):
    response = owner_client.post(
        reverse("llm_artifact:artifact_card_run", args=[artifact.pk]), {}, headers=HTMX
    )
    content = response.content.decode()

    assert 'data-chart="card"' in content
    [payload] = chart_payloads(content)
    assert len(payload["datasets"]["results"]) == 6
    assert '<details class="card-rows">' in content
    assert "Run again" in content


def test_card_offers_show_chart_only_for_charted_artifacts(artifact, table_only):
    # A chat page runs nothing by itself: the chart is drawn when asked for.
    charted = render_to_string("llm_artifact/artifact_card.html", {"card": ArtifactCard(artifact)})
    assert "Show chart" in charted and "data-chart" not in charted
    plain = render_to_string("llm_artifact/artifact_card.html", {"card": ArtifactCard(table_only)})
    assert "Show chart" not in plain and "</i> Run" in plain


def test_card_run_of_a_table_only_artifact_shows_the_table_unfolded(owner_client, table_only):
    content = owner_client.post(
        reverse("llm_artifact:artifact_card_run", args=[table_only.pk]), {}, headers=HTMX
    ).content.decode()
    assert "data-chart" not in content and "card-rows" not in content
    assert 'class="table table-sm table-striped' in content


def test_a_failed_card_run_shows_no_chart(owner_client, owner, shop):
    broken = ArtifactFactory(
        owner=owner, sql_query="SELECT nope FROM orders", visualization_config=BAR
    )
    content = owner_client.post(
        reverse("llm_artifact:artifact_card_run", args=[broken.pk]), {}, headers=HTMX
    ).content.decode()
    assert "run-error" in content and "data-chart" not in content


def test_detail_page_links_the_server_drawn_images_with_the_parameter_values(
    owner_client, artifact
):
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    png = reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": "png"})
    assert f'href="{png}" data-export-base="{png}" id="chart-png"' in content
    # Without a chart there is nothing to draw.
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config={})
    assert 'id="chart-png"' not in owner_client.get(artifact.get_absolute_url()).content.decode()


# --- the editor ------------------------------------------------------------------------------


def test_editor_shows_the_stored_spec_and_warns_that_nothing_ran_yet(owner_client, artifact):
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert json.loads(editor_text(content).replace("&quot;", '"')) == BAR
    assert "no successful run yet" in content
    assert editor_spec(content) == BAR


def test_check_names_the_path_of_each_error_and_previews_nothing(owner_client, artifact, owner):
    run_artifact(artifact, user=owner, raw_params={})
    typed = json.dumps({**BAR, "mark": "barz", "encoding": {"x": {"field": "state"}}})

    response = owner_client.post(
        chart_url(artifact), {"action": "check", "visualization_config": typed}, headers=HTMX
    )
    content = response.content.decode()

    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="chart-editor-check"')
    assert '<code class="chart-problem-path">mark</code>' in content
    assert '<code class="chart-problem-path">encoding.x.field</code>' in content
    assert editor_spec(content) is None
    artifact.refresh_from_db()
    assert artifact.visualization_config == BAR  # checking saves nothing


def test_check_of_a_valid_spec_hands_it_to_the_preview(owner_client, artifact, owner):
    run_artifact(artifact, user=owner, raw_params={})
    typed = {**BAR, "mark": "point"}
    content = owner_client.post(
        chart_url(artifact),
        {"action": "check", "visualization_config": json.dumps(typed)},
        headers=HTMX,
    ).content.decode()
    assert editor_spec(content) == typed
    assert "Valid Vega-Lite, drawing columns of the latest result." in content


def test_check_says_where_the_json_breaks(owner_client, artifact):
    content = owner_client.post(
        chart_url(artifact),
        {"action": "check", "visualization_config": '{"mark": "bar",,}'},
        headers=HTMX,
    ).content.decode()
    assert "This is not valid JSON" in content and "line 1, column 16" in content


def test_save_stores_a_valid_spec(owner_client, artifact, owner):
    run_artifact(artifact, user=owner, raw_params={})
    spec = {**BAR, "mark": {"type": "bar", "tooltip": True}}

    response = owner_client.post(
        chart_url(artifact),
        {"action": "save", "visualization_config": json.dumps(spec)},
        headers=HTMX,
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="artifact-chart"')
    assert "Chart saved." in content and "data-chart-saved" in content
    artifact.refresh_from_db()
    assert artifact.visualization_config == spec


def test_save_refuses_an_unknown_field_with_a_422_and_keeps_the_text(owner_client, artifact, owner):
    run_artifact(artifact, user=owner, raw_params={})
    typed = json.dumps({**BAR, "encoding": {"x": {"field": "state", "type": "nominal"}}})

    response = owner_client.post(
        chart_url(artifact), {"action": "save", "visualization_config": typed}, headers=HTMX
    )

    assert response.status_code == 422
    content = response.content.decode()
    assert '<code class="chart-problem-path">encoding.x.field</code>' in content
    assert "state" in editor_text(content)
    artifact.refresh_from_db()
    assert artifact.visualization_config == BAR


def test_save_without_javascript_redirects_to_the_page_with_a_message(owner_client, artifact):
    spec = {**BAR, "mark": "area"}
    response = owner_client.post(
        chart_url(artifact), {"action": "save", "visualization_config": json.dumps(spec)}
    )
    assert response.status_code == 302
    assert response.url == f"{artifact.get_absolute_url()}#artifact-chart"
    page = owner_client.get(response.url).content.decode()
    assert "Chart saved." in page
    artifact.refresh_from_db()
    assert artifact.visualization_config == spec


def test_bad_save_without_javascript_is_the_page_with_the_errors(owner_client, artifact):
    response = owner_client.post(
        chart_url(artifact),
        {"action": "save", "visualization_config": json.dumps({**BAR, "data": {"url": "x.csv"}})},
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" in content and '<code class="chart-problem-path">data.url</code>' in content
    # The rest of the page keeps showing what is stored.
    assert 'id="chart-png"' in content


def test_remove_makes_it_a_table(owner_client, artifact):
    response = owner_client.post(chart_url(artifact), {"action": "remove"}, headers=HTMX)
    assert response.status_code == 200
    assert "Chart removed: a table only." in response.content.decode()
    artifact.refresh_from_db()
    assert artifact.visualization_config == {}


def test_blank_save_is_the_same_as_remove(owner_client, artifact):
    owner_client.post(chart_url(artifact), {"action": "save", "visualization_config": ""})
    artifact.refresh_from_db()
    assert artifact.visualization_config == {}


def test_suggest_fills_the_editor_from_the_latest_result_without_saving(
    owner_client, table_only, owner
):
    run_artifact(table_only, user=owner, raw_params={})

    response = owner_client.post(chart_url(table_only), {"action": "suggest"}, headers=HTMX)

    content = response.content.decode()
    assert response.status_code == 200
    suggested = json.loads(editor_text(content).replace("&quot;", '"'))
    assert suggested["mark"] == {"type": "bar"}
    assert suggested["encoding"]["y"]["field"] == "status"
    assert suggested["encoding"]["x"]["field"] == "orders"
    assert "Suggested from the columns of the latest run" in content
    assert editor_spec(content) == suggested  # previewed at once
    table_only.refresh_from_db()
    assert table_only.visualization_config == {}


def test_suggest_before_any_run_says_to_run_first_and_keeps_the_typing(owner_client, table_only):
    typed = '{"mark": "bar"'
    content = owner_client.post(
        chart_url(table_only),
        {"action": "suggest", "visualization_config": typed},
        headers=HTMX,
    ).content.decode()
    assert "Run the query first" in content
    assert editor_text(content) == "{&quot;mark&quot;: &quot;bar&quot;"


def test_suggest_leaves_a_result_without_a_measure_as_a_table(owner_client, owner, shop):
    names = ArtifactFactory(owner=owner, sql_query="SELECT name, email FROM customers")
    run_artifact(names, user=owner, raw_params={})
    content = owner_client.post(chart_url(names), {"action": "suggest"}, headers=HTMX)
    assert "No chart suits these columns" in content.content.decode()


def test_suggest_without_javascript_is_the_page_with_the_suggestion(
    owner_client, table_only, owner
):
    run_artifact(table_only, user=owner, raw_params={})
    response = owner_client.post(chart_url(table_only), {"action": "suggest"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content and "&quot;mark&quot;" in editor_text(content)


def test_llm_written_spec_text_is_escaped_in_the_editor(owner_client, owner, shop):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query=STATUS_SQL,
        visualization_config={**BAR, "title": "</textarea><script>alert(1)</script>"},
    )
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in content
    assert "&lt;/textarea&gt;&lt;script&gt;" in content


# --- who may ---------------------------------------------------------------------------------


def test_other_user_gets_404_and_nothing_changes(client, other_user, artifact):
    client.force_login(other_user)
    response = client.post(chart_url(artifact), {"action": "remove"})
    assert response.status_code == 404
    artifact.refresh_from_db()
    assert artifact.visualization_config == BAR


def test_staff_may_edit_anyones_chart(client, staff, artifact):
    client.force_login(staff)
    response = client.post(chart_url(artifact), {"action": "remove"}, headers=HTMX)
    assert response.status_code == 200
    artifact.refresh_from_db()
    assert artifact.visualization_config == {}


def test_anonymous_is_sent_to_sign_in(client, artifact):
    response = client.post(chart_url(artifact), {"action": "remove"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_get_is_not_allowed(owner_client, artifact):
    assert owner_client.get(chart_url(artifact)).status_code == 405


def test_checking_and_suggesting_run_nothing(owner_client, artifact):
    owner_client.post(chart_url(artifact), {"action": "check", "visualization_config": "{}"})
    owner_client.post(chart_url(artifact), {"action": "suggest"})
    assert not ArtifactRun.objects.exists()


def test_chart_libraries_come_from_our_static_files(owner_client, artifact):
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    script = re.search(r'<script src="(/static/js/charts\.js)"([^>]*)>', content)
    assert script
    libraries = dict(re.findall(r'data-(vega(?:-lite|-embed)?)="([^"]+)"', script.group(2)))
    assert libraries == {
        "vega": "/static/vendor/vega/vega.min.js",
        "vega-lite": "/static/vendor/vega-lite/vega-lite.min.js",
        "vega-embed": "/static/vendor/vega-embed/vega-embed.min.js",
    }
    for url in [script.group(1), *libraries.values()]:
        response = owner_client.get(url)
        assert response.status_code == 200, url
        response.close()
