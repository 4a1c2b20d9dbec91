"""Charts as people meet them: drawn above the result after Run on the artifact page, drawn
small in a chat card on demand, and edited with a live preview that follows the typing,
shows errors where they are, suggests a chart and saves it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Message
from tests.browser.test_pages_flow import assert_same_document, mark_document, sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.browser

STATUS_SQL = (
    "SELECT status, COUNT(*) AS orders, ROUND(SUM(total), 2) AS revenue FROM orders "
    "GROUP BY status ORDER BY orders DESC, status"
)
# Six statuses in the sample shop: six bars.
STATUSES = 6
BAR = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
    "data": {"name": "results"},
    "title": "Orders by status",
    "mark": "bar",
    "encoding": {
        "x": {"field": "status", "type": "nominal"},
        "y": {"field": "orders", "type": "quantitative"},
        "tooltip": [{"field": "status"}, {"field": "orders"}],
    },
}


@pytest.fixture
def demo(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Order statuses")
    charted = ArtifactFactory(
        owner=user,
        chat=chat,
        agent=chat.agent,
        title="Orders by status",
        sql_query=STATUS_SQL,
        visualization_config=BAR,
    )
    table_only = ArtifactFactory(
        owner=user, chat=chat, agent=chat.agent, title="Orders table", sql_query=STATUS_SQL
    )
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="Here is the chart.",
        artifact=charted,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    return {"chat": chat, "charted": charted, "table_only": table_only}


def run_on_page(page: Page) -> None:
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    expect(page.locator("#artifact-run-result table.result-table")).to_be_visible()


def test_chart_renders_above_the_result_after_run(page: Page, live_server, demo):
    charted = demo["charted"]
    sign_in(page)
    page.goto(charted.get_absolute_url())
    expect(page.locator("#artifact-run-panel")).to_contain_text(
        "Run the query to see its result here, charted."
    )
    mark_document(page)
    run_on_page(page)

    chart = page.locator('#artifact-run-result [data-chart="page"]')
    expect(chart).to_have_attribute("data-chart-state", "drawn")
    bars = chart.locator("svg.marks g.mark-rect path")
    expect(bars).to_have_count(STATUSES)
    expect(chart.locator("svg.marks")).to_contain_text("Orders by status")
    # Above the table, as wide as the panel.
    chart_box = chart.bounding_box()
    table_box = page.locator("#artifact-run-result .result-scroll").bounding_box()
    assert chart_box["y"] + chart_box["height"] <= table_box["y"]
    assert chart_box["width"] > 500

    # The actions menu offers the downloads only.
    chart.locator("details summary").click()
    actions = chart.locator(".vega-actions a")
    expect(actions).to_have_text(["Save as SVG", "Save as PNG"])

    # Hovering a bar shows its values.
    bars.first.hover()
    expect(page.locator("#vg-tooltip-element")).to_contain_text("paid")
    assert_same_document(page)


def test_chart_renders_in_the_chat_card_on_demand(page: Page, live_server, demo):
    charted = demo["charted"]
    sign_in(page)
    page.get_by_role("link", name=re.compile("Order statuses")).click()
    card = page.locator(f"[data-artifact-card='{charted.pk}']")
    # Opening the chat runs nothing; the card offers the chart.
    expect(card.locator("[data-chart]")).to_have_count(0)
    expect(card).to_contain_text("0 runs")

    card.get_by_role("button", name="Show chart").click()

    chart = page.locator(f"[data-artifact-card='{charted.pk}'] [data-chart=card]")
    expect(chart).to_have_attribute("data-chart-state", "drawn")
    expect(chart.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)
    box = chart.bounding_box()
    assert box["height"] < 320  # small in the conversation
    expect(chart.locator(".vega-actions")).to_have_count(0)
    # The rows are one click away.
    rows = page.locator(f"[data-artifact-card='{charted.pk}'] details.card-rows")
    expect(rows.locator("table")).not_to_be_visible()
    rows.locator("summary").click()
    expect(rows.locator("tbody tr")).to_have_count(STATUSES)
    expect(page.locator(f"[data-artifact-card='{charted.pk}']")).to_contain_text("1 run")


def test_editor_preview_follows_typing_and_shows_errors_in_place(page: Page, live_server, demo):
    charted = demo["charted"]
    sign_in(page)
    page.goto(charted.get_absolute_url())
    editor = page.locator("#artifact-chart")
    preview = editor.locator("[data-chart-preview]")
    expect(preview).to_contain_text("The spec is valid; the preview draws it over rows")

    run_on_page(page)
    expect(preview.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)
    # The first run settled the fields: no more "not checked" warning.
    expect(editor.locator(".chart-warnings")).to_have_count(0)
    expect(editor.locator(".chart-valid")).to_contain_text("drawing columns of the latest result")

    spec = editor.locator("#chart-spec")
    text = spec.input_value()
    spec.fill(text.replace('"mark": "bar"', '"mark": "point"'))
    expect(preview.locator("svg.marks g.mark-symbol path")).to_have_count(STATUSES)
    expect(preview.locator("svg.marks g.mark-rect")).to_have_count(0)

    spec.fill(text.replace('"field": "orders"', '"field": "order_count"', 1))
    problem = editor.locator(".chart-problem")
    expect(problem).to_have_count(1)
    expect(problem.locator(".chart-problem-path")).to_have_text("encoding.y.field")
    expect(problem).to_contain_text('no column or calculated field named "order_count"')
    expect(preview).to_contain_text("Fix the problems to update the preview.")

    spec.fill('{"mark": "bar",')
    expect(editor.locator(".chart-problem")).to_contain_text("This is not valid JSON")

    spec.fill(text)
    expect(editor.locator(".chart-problem")).to_have_count(0)
    expect(preview.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)
    # Typing saves nothing.
    charted.refresh_from_db()
    assert charted.visualization_config == BAR


def test_suggest_then_save_and_the_chart_stays(page: Page, live_server, demo):
    table_only = demo["table_only"]
    sign_in(page)
    page.goto(table_only.get_absolute_url())
    editor = page.locator("#artifact-chart")
    expect(editor.locator("#chart-spec")).to_have_value("")
    run_on_page(page)
    # A table-only artifact draws no chart after its run.
    expect(page.locator('#artifact-run-result [data-chart="page"]')).to_be_hidden()

    editor.get_by_role("button", name="Suggest chart").click()
    expect(editor.locator(".chart-note")).to_contain_text("Suggested from the columns")
    expect(editor.locator("#chart-spec")).to_have_value(re.compile(r'"mark": \{\s*"type": "bar"'))
    expect(editor.locator("[data-chart-preview] svg.marks g.mark-rect path")).to_have_count(
        STATUSES
    )
    table_only.refresh_from_db()
    assert table_only.visualization_config == {}

    editor.get_by_role("button", name="Save chart").click()
    expect(editor.locator(".chart-note")).to_contain_text("Chart saved.")
    # The result already on the page is drawn with the saved chart, without running again.
    run_chart = page.locator('#artifact-run-result [data-chart="page"]')
    expect(run_chart).to_be_visible()
    expect(run_chart.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)

    table_only.refresh_from_db()
    assert table_only.visualization_config["mark"] == {"type": "bar"}
    page.reload()
    expect(page.locator("#chart-spec")).to_have_value(re.compile(r'"field": "status"'))
    # The page opens on the latest result, kept with its run, drawn with the saved chart.
    expect(page.locator("#artifact-run-result .run-snapshot")).to_contain_text("Result of the run")
    reopened = page.locator('#artifact-run-result [data-chart="page"]')
    expect(reopened.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)

    # Remove takes it back to a table.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#artifact-chart").get_by_role("button", name="Remove chart").click()
    expect(page.locator("#artifact-chart .chart-note")).to_contain_text("a table only")
    table_only.refresh_from_db()
    assert table_only.visualization_config == {}


def test_saving_a_bad_spec_shows_the_errors_and_keeps_the_old_one(page: Page, live_server, demo):
    charted = demo["charted"]
    sign_in(page)
    page.goto(charted.get_absolute_url())
    run_on_page(page)
    spec = page.locator("#chart-spec")
    spec.fill(spec.input_value().replace('"status"', '"state"', 1))
    page.locator("#artifact-chart").get_by_role("button", name="Save chart").click()
    expect(page.locator("#artifact-chart .chart-problem-path")).to_have_text("encoding.x.field")
    expect(page.locator("#chart-spec")).to_have_value(re.compile('"state"'))
    charted.refresh_from_db()
    assert charted.visualization_config == BAR


def test_editor_works_without_javascript(page_without_js: Page, live_server, demo):
    page, table_only = page_without_js, demo["table_only"]
    sign_in(page)
    page.goto(table_only.get_absolute_url())
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    page.get_by_role("button", name="Suggest chart").click()
    expect(page.locator("#chart-spec")).to_have_value(re.compile('"mark"'))
    page.get_by_role("button", name="Save chart").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{table_only.pk}/#artifact-chart$"))
    expect(page.get_by_role("status").first).to_contain_text("Chart saved.")
    assert Artifact.objects.get(pk=table_only.pk).visualization_config["mark"] == {"type": "bar"}


def test_the_editor_notes_follow_the_text(page: Page, live_server, demo):
    """ "Chart saved." stays only while the text is what was saved; after Suggest on a page
    without rows, the preview says the spec is fine and offers the run it needs."""
    table_only = demo["table_only"]
    sign_in(page)
    page.goto(table_only.get_absolute_url())
    run_on_page(page)
    editor = page.locator("#artifact-chart")
    editor.get_by_role("button", name="Suggest chart").click()
    expect(editor.locator("#chart-spec")).to_have_value(re.compile(r'"mark"'))
    editor.get_by_role("button", name="Save chart").click()
    expect(editor.locator(".chart-note")).to_have_text("Chart saved.")

    editor.locator("#chart-spec").fill('{"mark": "bar", "encoding": {"x": {"field": "nope"}}}')
    expect(editor.locator(".chart-problems")).to_contain_text("problems to fix")
    expect(editor.locator(".chart-note")).to_have_text(
        "Not saved yet: Save chart to keep these changes."
    )
    expect(editor.locator(".chart-note")).not_to_contain_text("Chart saved.")

    # A reload opens on the kept result of the run above: Suggest fills a valid spec from its
    # columns and the preview draws it over the kept rows at once.
    page.reload()
    editor = page.locator("#artifact-chart")
    editor.get_by_role("button", name="Suggest chart").click()
    expect(editor.locator(".chart-note")).to_contain_text("Suggested from the columns")
    preview = editor.locator("[data-chart-preview]")
    expect(preview.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)

    # A page with no rows at all (never run): the preview says the spec is fine and offers
    # the run it needs to draw.
    page.goto(demo["charted"].get_absolute_url())
    preview = page.locator("#artifact-chart [data-chart-preview]")
    expect(preview).to_contain_text("The spec is valid; the preview draws it over rows")
    preview.get_by_role("button", name="Run the query to preview it").click()
    expect(preview.locator("svg.marks g.mark-rect path")).to_have_count(STATUSES)


def test_tooltips_show_readable_numbers(page: Page, live_server, demo):
    noisy = ArtifactFactory(
        owner=demo["charted"].owner,
        title="Revenue by region",
        sql_query="SELECT 'north' AS region, 4919171.08000078 AS revenue "
        "UNION ALL SELECT 'south', 812130.19",
        visualization_config={
            "data": {"name": "results"},
            "mark": "bar",
            "encoding": {
                "x": {"field": "region", "type": "nominal"},
                "y": {"field": "revenue", "type": "quantitative"},
                "tooltip": [{"field": "region"}, {"field": "revenue", "type": "quantitative"}],
            },
        },
    )
    sign_in(page)
    page.goto(noisy.get_absolute_url())
    run_on_page(page)
    expect(page.locator("#artifact-run-result table.result-table tbody tr").first).to_contain_text(
        "4,919,171.08"
    )
    chart = page.locator('#artifact-run-result [data-chart="page"]')
    expect(chart).to_have_attribute("data-chart-state", "drawn")
    chart.locator("svg.marks g.mark-rect path").first.hover()
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip).to_contain_text("4,919,171.08")
    expect(tooltip).not_to_contain_text("4919171.08000078")
