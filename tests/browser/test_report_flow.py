"""A report as people meet it: written in the editor with a preview, saved, re-run, read with
its chart, table and two inline numbers, on a laptop and a phone, and exported."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import BAR, ArtifactFactory
from tests.llm_artifact.test_report_render import STATUS_PARAM, STATUS_SQL, TOTAL_SQL

pytestmark = pytest.mark.browser


@pytest.fixture
def sources(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    user = UserFactory(username="analyst")
    chart = ArtifactFactory(
        owner=user, title="Orders by status", sql_query=STATUS_SQL, visualization_config=BAR
    )
    table = ArtifactFactory(
        owner=user, title="Order list", sql_query="SELECT id, status, total FROM orders"
    )
    totals = ArtifactFactory(
        owner=user, title="Paid totals", sql_query=TOTAL_SQL, query_params=STATUS_PARAM
    )
    return chart, table, totals


def text_for(chart, table, totals) -> str:
    return (
        "# Monthly sales\n\n"
        f"Paid orders: {{{{ value {totals.pk} column=orders }}}}, worth "
        f"{{{{ value {totals.pk} column=revenue :status=paid }}}}.\n\n"
        f"```artifact {chart.pk} show=chart\n```\n\n"
        f"```artifact {table.pk} show=table rows=3\n```\n"
    )


def test_write_preview_save_rerun_and_read_a_report(page: Page, sources):
    sign_in(page)
    page.goto("/artifacts/")
    page.get_by_role("link", name="New report").click()
    page.get_by_label("Title").fill("Monthly sales")
    page.get_by_label("Text").fill(text_for(*sources))
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#report-preview-body")
    expect(preview.get_by_role("heading", name="Monthly sales")).to_be_visible()
    expect(preview).to_contain_text("Not run with these parameter values yet")

    page.get_by_role("button", name="Save").click()
    expect(page.locator("#report-not-run-note")).to_contain_text("4 blocks have no result")
    page.get_by_role("button", name="Re-run").click()

    body = page.locator("#report-body")
    expect(page.get_by_text("Ran 3 queries.")).to_be_visible()
    expect(body).to_contain_text("Paid orders: 4, worth 699.25.")
    chart = body.get_by_role("img", name="Chart of “Orders by status”")
    expect(chart).to_be_visible()
    # Drawn, not a broken image: the SVG in its data: URL loaded under the page's CSP.
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(body.locator("table.report-table tbody tr")).to_have_count(3)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export PDF").click()
    assert download.value.suggested_filename == "monthly-sales.pdf"

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the report is wider than the phone: {width}px"
