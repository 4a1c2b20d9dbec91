"""The SQL editor widget in the artifact admin: a typo'd column is flagged with a suggestion
while typing, Format pretty-prints, Ctrl+Enter dispatches the run (a preview, recorded
nowhere), a draft survives a reload, and without JavaScript the textarea posts the form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.conftest import PASSWORD, UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser

ORIGINAL = "SELECT id, status FROM orders"


@pytest.fixture
def artifact(transactional_db, tmp_path, settings):
    sample.use_sqlite(tmp_path, settings)
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    return ArtifactFactory(owner=staff, sql_query=ORIGINAL, query_params=[])


def sign_in_to_admin(page: Page, artifact: Artifact) -> None:
    page.goto(f"/admin/llm_artifact/artifact/{artifact.pk}/change/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".cm-editor")).to_be_visible()


def replace_text(page: Page, text: str) -> None:
    page.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_typo_format_run_and_draft(page: Page, live_server, artifact):
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", accept)
    sign_in_to_admin(page, artifact)
    textarea = page.locator("textarea[name=sql_query]")
    expect(textarea).to_be_hidden()

    # Checked while typing: the unknown column is marked and the suggestion shown.
    replace_text(page, "select id, totl from orders where status = 'paid'")
    status = page.locator(".sql-editor-status")
    expect(status).to_contain_text("no column `totl` in `orders`; did you mean `total`?")
    expect(page.locator(".cm-lintRange-error")).to_have_text("totl")

    # Completion offers the schema's columns.
    page.keyboard.press("Control+End")
    page.keyboard.insert_text(" and tot")
    page.keyboard.press("Control+Space")
    expect(page.locator(".cm-tooltip-autocomplete")).to_contain_text("total")
    page.keyboard.press("Escape")
    replace_text(page, "select id, totl from orders where status = 'paid'")

    # Format pretty-prints, and the hidden textarea follows the editor.
    page.get_by_role("button", name="Format").click()
    formatted = "SELECT\n  id,\n  totl\nFROM orders\nWHERE\n  status = 'paid'"
    expect(textarea).to_have_value(formatted)

    # Ctrl+Enter dispatches the run event; by default a preview runs below the editor.
    page.evaluate(
        "window.__runs = [];"
        "document.addEventListener('sql-editor:run', e => window.__runs.push(e.detail.sql))"
    )
    replace_text(page, "SELECT id FROM orders WHERE status = 'paid' ORDER BY id")
    page.locator(".cm-content").press("Control+Enter")
    expect(page.locator(".sql-editor-result")).to_contain_text("4 rows")
    expect(page.locator(".sql-editor-result")).to_contain_text("not recorded")
    assert page.evaluate("window.__runs") == [
        "SELECT id FROM orders WHERE status = 'paid' ORDER BY id"
    ]
    assert ArtifactRun.objects.count() == 0
    expect(status).to_have_text("No problems found.")

    # The draft survives a reload (after the prompt about leaving with edits).
    page.wait_for_timeout(500)
    page.reload()
    expect(page.locator(".sql-editor-notice")).to_contain_text("Restored your unsaved draft")
    expect(textarea).to_have_value("SELECT id FROM orders WHERE status = 'paid' ORDER BY id")
    assert "beforeunload" in dialogs

    page.get_by_role("button", name="Discard draft").click()
    expect(textarea).to_have_value(ORIGINAL)
    expect(page.locator(".sql-editor-notice")).to_be_hidden()


def test_saving_from_the_editor_keeps_the_text_and_drops_the_draft(
    page: Page, live_server, artifact
):
    sign_in_to_admin(page, artifact)
    replace_text(page, "SELECT id, total FROM orders")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    artifact.refresh_from_db()
    assert artifact.sql_query == "SELECT id, total FROM orders"
    expect(page.locator(".sql-editor-notice")).to_be_hidden()


def test_without_javascript_the_textarea_posts_the_form(
    page_without_js: Page, live_server, artifact
):
    page = page_without_js
    page.goto(f"/admin/llm_artifact/artifact/{artifact.pk}/change/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("textarea[name=sql_query]").fill("SELECT totl FROM orders")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".errorlist")).to_contain_text(re.compile("did you mean `total`"))
    page.locator("textarea[name=sql_query]").fill("SELECT total FROM orders")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    artifact.refresh_from_db()
    assert artifact.sql_query == "SELECT total FROM orders"


def test_undeclared_parameter_is_marked_until_declared(page: Page, live_server, artifact):
    sign_in_to_admin(page, artifact)
    replace_text(page, "SELECT id FROM orders WHERE status = :status")
    expect(page.locator(".cm-lintRange-error")).to_have_text(":status")
    expect(page.locator(".sql-editor-status")).to_contain_text(
        "uses :status, which is not declared"
    )

    declarations = page.locator("textarea[name=query_params]")
    declarations.fill('[{"name": "status", "type": "string", "default": "paid"}]')
    declarations.dispatch_event("change")
    expect(page.locator(".sql-editor-status")).to_have_text("No problems found.")
    expect(page.locator(".cm-lintRange-error")).to_have_count(0)
