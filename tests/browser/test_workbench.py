"""The workbench, clicked through (issue 13's "Done when"): a user writes a new artifact with a
parameter and a relative date default, sees a typo'd column flagged with a suggestion before
running, formats it, previews it, saves it, duplicates it, edits the copy's SQL and
parameters, and runs it from the list; and the same flow with forms only (no JavaScript)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.browser.test_csp import watch_csp
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.datasources import sample

pytestmark = pytest.mark.browser

TYPO_SQL = "SELECT id, totl FROM orders WHERE ordered_at >= :since ORDER BY id"
GOOD_SQL = "SELECT id, total FROM orders WHERE ordered_at >= :since ORDER BY id"
FORMATTED = "SELECT\n  id,\n  total\nFROM orders\nWHERE\n  ordered_at >= :since\nORDER BY\n  id"
EDITED_SQL = (
    "SELECT id, total, status FROM orders WHERE ordered_at >= :since AND status = :status "
    "ORDER BY id"
)
# Every order of the sample (2024) is after it, whatever today is.
RELATIVE = "start_of_year -5 years"


@pytest.fixture
def analyst(transactional_db, tmp_path, settings):
    sample.use_sqlite(tmp_path, settings)
    return UserFactory(username="analyst")


def replace_text(page: Page, text: str) -> None:
    page.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_write_check_format_preview_save_duplicate_edit_and_run(page: Page, live_server, analyst):
    page.on("dialog", lambda dialog: dialog.accept())
    violations = watch_csp(page)
    sign_in(page)
    page.goto("/artifacts/")
    page.get_by_role("link", name="New artifact").click()
    expect(page).to_have_url(re.compile(r"/artifacts/new/$"))
    expect(page.locator(".cm-editor")).to_be_visible()
    page.get_by_label("Title").fill("Orders since")

    # The typo is flagged with its suggestion while typing, before anything runs.
    replace_text(page, TYPO_SQL)
    status = page.locator(".sql-editor-status")
    expect(status).to_contain_text("did you mean `total`?")
    # The undeclared :since is offered for declaration in place.
    page.locator("#workbench-undeclared").get_by_role("button", name="Declare :since").click()
    expect(page.locator("input[name=params-0-name]")).to_have_value("since")
    page.locator("select[name=params-0-type]").select_option("date")
    page.locator("input[name=params-0-default]").fill(RELATIVE)
    page.locator("input[name=params-0-label]").fill("Ordered since")

    replace_text(page, GOOD_SQL)
    expect(status).to_have_text("No problems found.")

    page.get_by_role("button", name="Format").click()
    expect(page.locator("textarea[name=sql_query]")).to_have_value(FORMATTED)

    # Ctrl+Enter previews below the editor with the defaults; nothing is recorded.
    page.locator(".cm-content").press("Control+Enter")
    expect(page.locator(".sql-editor-result")).to_contain_text("10 rows")
    assert not ArtifactRun.objects.exists()

    page.get_by_role("button", name="Create artifact").click()
    expect(page.get_by_role("heading", name="Orders since")).to_be_visible()
    original = Artifact.objects.get()
    assert original.sql_query == FORMATTED
    assert original.query_params[0]["default"] == RELATIVE

    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name="Copy of Orders since")).to_be_visible()
    copy = Artifact.objects.exclude(pk=original.pk).get()

    # The copy's SQL and parameters, edited: a new :status declared, the first one relabelled.
    page.get_by_role("link", name="Edit SQL").click()
    expect(page.locator(".cm-editor")).to_be_visible()
    replace_text(page, EDITED_SQL)
    page.locator("#workbench-undeclared").get_by_role("button", name="Declare :status").click()
    page.locator("input[name=params-1-default]").fill("paid")
    page.locator("input[name=params-0-label]").fill("Since")
    # Moved first, then saved in that order.
    page.locator("[data-parameter-row]").nth(1).get_by_role("button", name="Move up").click()
    expect(status).to_have_text("No problems found.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="Copy of Orders since")).to_be_visible()
    copy.refresh_from_db()
    assert copy.sql_query == EDITED_SQL
    assert [d["name"] for d in copy.query_params] == ["status", "since"]
    original.refresh_from_db()
    assert original.sql_query == FORMATTED

    # Run from the list.
    page.goto("/artifacts/")
    page.get_by_role("link", name="Copy of Orders since").click()
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    expect(page.locator("table.result-table tbody tr")).to_have_count(4)
    assert copy.runs.count() == 1
    assert not violations, f"Content-Security-Policy violations: {violations}"


def test_the_same_flow_without_javascript(page_without_js: Page, live_server, analyst):
    page = page_without_js
    sign_in(page)
    page.goto("/artifacts/")
    page.get_by_role("link", name="New artifact").click()
    page.get_by_label("Title").fill("Orders since")
    page.locator("textarea[name=sql_query]").fill(TYPO_SQL)

    page.get_by_role("button", name="Check").click()
    expect(page.locator("#workbench-check")).to_contain_text("did you mean `total`?")
    page.get_by_role("button", name="Declare :since").click()
    expect(page.locator("input[name=params-0-name]")).to_have_value("since")
    page.locator("select[name=params-0-type]").select_option("date")
    page.locator("input[name=params-0-default]").fill(RELATIVE)

    page.locator("textarea[name=sql_query]").fill(GOOD_SQL)
    page.get_by_role("button", name="Format").click()
    expect(page.locator("textarea[name=sql_query]")).to_have_value(FORMATTED)
    expect(page.locator("#workbench-check")).to_contain_text("No problems found.")

    page.get_by_role("button", name="Run preview").click()
    expect(page.locator("#workbench-preview")).to_contain_text("10 rows")
    assert not ArtifactRun.objects.exists()

    page.get_by_role("button", name="Create artifact").click()
    expect(page.get_by_role("heading", name="Orders since")).to_be_visible()
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name="Copy of Orders since")).to_be_visible()
    copy = Artifact.objects.get(title="Copy of Orders since")

    page.get_by_role("link", name="Edit SQL").click()
    page.locator("textarea[name=sql_query]").fill(EDITED_SQL)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#workbench-check")).to_contain_text("uses :status, which is not declared")
    page.get_by_role("button", name="Declare :status").click()
    page.locator("input[name=params-1-default]").fill("paid")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="Copy of Orders since")).to_be_visible()
    copy.refresh_from_db()
    assert copy.sql_query == EDITED_SQL
    assert [d["name"] for d in copy.query_params] == ["since", "status"]

    page.goto("/artifacts/")
    page.get_by_role("link", name="Copy of Orders since").click()
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    expect(page.locator("table.result-table tbody tr")).to_have_count(4)


def test_a_draft_keeps_the_parameters_beside_the_sql(page: Page, live_server, analyst):
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page)
    page.goto("/artifacts/new/")
    expect(page.locator(".cm-editor")).to_be_visible()
    page.get_by_label("Title").fill("Orders since")
    replace_text(page, GOOD_SQL)
    page.locator("#workbench-undeclared").get_by_role("button", name="Declare :since").click()
    page.locator("select[name=params-0-type]").select_option("date")
    page.locator("input[name=params-0-default]").fill(RELATIVE)
    page.locator("input[name=params-0-help_text]").fill("Orders placed on or after this day")
    page.wait_for_timeout(800)  # the draft is written a moment after the last edit

    page.reload()
    expect(page.locator(".sql-editor-notice")).to_contain_text("Restored your unsaved draft")
    expect(page.locator("textarea[name=sql_query]")).to_have_value(GOOD_SQL)
    expect(page.locator("input[name=params-0-name]")).to_have_value("since")
    expect(page.locator("select[name=params-0-type]")).to_have_value("date")
    expect(page.locator("input[name=params-0-default]")).to_have_value(RELATIVE)
    expect(page.locator("input[name=params-0-help_text]")).to_have_value(
        "Orders placed on or after this day"
    )
    expect(page.locator(".sql-editor-status")).to_have_text("No problems found.")

    page.get_by_label("Title").fill("Orders since")
    page.get_by_role("button", name="Create artifact").click()
    expect(page.get_by_role("heading", name="Orders since")).to_be_visible()
    saved = Artifact.objects.get()
    assert saved.sql_query == GOOD_SQL
    assert saved.query_params == [
        {
            "name": "since",
            "type": "date",
            "required": False,
            "default": RELATIVE,
            "help_text": "Orders placed on or after this day",
        }
    ]

    # A parameter edited alone is a draft too, and "Discard draft" puts the rows back.
    page.get_by_role("link", name="Edit SQL").click()
    expect(page.locator(".cm-editor")).to_be_visible()
    page.locator("input[name=params-0-label]").fill("Ordered since")
    page.wait_for_timeout(800)
    page.reload()
    expect(page.locator(".sql-editor-notice")).to_contain_text("Restored your unsaved draft")
    expect(page.locator("input[name=params-0-label]")).to_have_value("Ordered since")
    page.get_by_role("button", name="Discard draft").click()
    expect(page.locator("input[name=params-0-label]")).to_have_value("")
    expect(page.locator("input[name=params-0-default]")).to_have_value(RELATIVE)
    expect(page.locator(".sql-editor-notice")).to_be_hidden()


def test_the_chart_is_checked_as_it_is_typed(page: Page, live_server, analyst):
    violations = watch_csp(page)
    sign_in(page)
    page.goto("/artifacts/new/")
    expect(page.locator(".cm-editor")).to_be_visible()
    chart = page.get_by_label("Chart (Vega-Lite JSON; empty for a table only)")
    chart.fill('{"data": {"name": "results"}, "mark": "barr"}')
    check = page.locator("#chart-editor-check")
    expect(check.locator(".chart-problem-path")).to_have_text("mark")
    expect(check).to_contain_text('"barr" is not allowed here')

    chart.fill('{"data": {"name": "results"}, "mark": "bar"}')
    expect(check).to_contain_text("Valid Vega-Lite")
    expect(check.locator(".chart-problem")).to_have_count(0)
    assert not Artifact.objects.exists()
    assert not violations, f"Content-Security-Policy violations: {violations}"
