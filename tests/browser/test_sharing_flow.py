"""Sharing an artifact the way people do (issue 12's "Done when"): the owner shares it with a
group in the Share dialog; a colleague in that group finds it under "Shared with me", runs it
with other values and exports it, but cannot edit it; given edit, edits it; once the share is
taken back, gets 404 on the same URLs."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact, ArtifactRun
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PASSWORD, UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser

SQL = (
    "SELECT status, COUNT(*) AS orders\nFROM orders\nWHERE total >= :min_total\n"
    "GROUP BY status\nORDER BY status"
)


@pytest.fixture
def world(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    owner = UserFactory(username="demo")
    colleague = UserFactory(username="colleague")
    analysts = Group.objects.create(name="Analysts")
    Group.objects.create(name="Support")
    colleague.groups.add(analysts)
    artifact = ArtifactFactory(
        owner=owner,
        title="Orders per status",
        sql_query=SQL,
        query_params=[
            {"name": "min_total", "type": "number", "label": "Minimum total", "default": 0}
        ],
    )
    return {"artifact": artifact, "analysts": analysts}


@pytest.fixture
def colleague_page(browser, live_server, transactional_db):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page: Page, username: str) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chats/$"))


def change_sharing(page: Page, artifact: Artifact, *, visibility: str, analysts: str) -> None:
    """In the owner's Share dialog: choose who may see it and the Analysts' access, save."""
    page.goto(artifact.get_absolute_url())
    page.get_by_role("link", name="Share…").click()
    dialog = page.locator("dialog[data-share-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#share-owner")).to_contain_text("Owner: demo")
    dialog.get_by_label(visibility).check()
    dialog.get_by_label("Analysts").select_option(analysts)
    dialog.get_by_role("button", name="Save sharing").click()
    expect(page.locator(".alert", has_text="Sharing of")).to_be_visible()
    expect(dialog).to_have_count(0)


def test_share_run_export_edit_and_unshare(page: Page, colleague_page: Page, live_server, world):
    artifact = world["artifact"]
    detail = artifact.get_absolute_url()
    export = f"{detail}export/csv/?min_total=100"

    # Before it is shared, the colleague cannot open it.
    sign_in(colleague_page, "colleague")
    assert colleague_page.goto(detail).status == 404

    # The owner shares it with the Analysts, to view. A group without one is refused first.
    sign_in(page, "demo")
    page.goto(detail)
    page.get_by_role("link", name="Share…").click()
    dialog = page.locator("dialog[data-share-dialog]")
    dialog.get_by_label("Shared with groups").check()
    dialog.get_by_role("button", name="Save sharing").click()
    expect(page.locator("dialog[data-share-dialog]")).to_contain_text(
        "Choose at least one group below"
    )
    page.locator("dialog[data-share-dialog]").get_by_role("button", name="Cancel").click()
    change_sharing(page, artifact, visibility="Shared with groups", analysts="view")
    expect(page.locator("#artifact-sharing")).to_contain_text("Analysts · view")

    # The colleague finds it under "Shared with me", with its badge and owner.
    colleague_page.goto("/artifacts/")
    colleague_page.get_by_role("link", name="Shared with me", exact=True).click()
    row = colleague_page.locator(".artifact-table tbody tr", has_text="Orders per status")
    expect(row).to_be_visible()
    expect(row.locator(".shared-badge")).to_be_visible()
    expect(row.locator(".artifact-owner")).to_have_text("demo")
    row.get_by_role("link", name="Orders per status").click()
    expect(colleague_page).to_have_url(re.compile(rf"{detail}$"))

    # They run it with their own value...
    expect(colleague_page.locator("#artifact-view-only")).to_be_visible()
    expect(colleague_page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(colleague_page.locator("#artifact-chart")).to_have_count(0)
    panel = colleague_page.locator("#artifact-run-panel")
    colleague_page.get_by_label("Minimum total").fill("100")
    panel.get_by_role("button", name="Run").click()
    expect(panel.locator(".run-row-count")).to_be_visible()
    history = colleague_page.locator("#artifact-run-history .history-row")
    expect(history.first).to_contain_text("colleague")
    expect(history.first).to_contain_text("min_total=100")

    # ...and export it with that value.
    with colleague_page.expect_download() as download_info:
        panel.get_by_role("link", name="CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert rows[0] == ["status", "orders"]
    assert ArtifactRun.objects.filter(artifact=artifact, user__username="colleague").count() == 2

    # They cannot edit it, even by its URL.
    response = colleague_page.goto(f"{detail}edit/")
    assert response.status == 403
    expect(colleague_page.locator("#forbidden-reason")).to_contain_text(
        "ask its owner for edit access"
    )

    # Given edit, they edit it inline.
    change_sharing(page, artifact, visibility="Shared with groups", analysts="edit")
    colleague_page.goto(detail)
    colleague_page.locator("#artifact-summary").get_by_role("link", name="Edit", exact=True).click()
    form = colleague_page.locator("form#artifact-summary")
    form.get_by_label("Comment").fill("Checked by a colleague.")
    form.get_by_role("button", name="Save").click()
    # (A save under a loaded CI machine may take longer than expect's default 5 s.)
    expect(colleague_page.locator("#artifact-comment")).to_have_text(
        "Checked by a colleague.", timeout=TIMEOUT_MS
    )
    assert Artifact.objects.get(pk=artifact.pk).comment == "Checked by a colleague."
    # Sharing stays the owner's.
    expect(colleague_page.get_by_role("link", name="Share…")).to_have_count(0)

    # An edit is authorised when it is saved, not when its form was opened.
    colleague_page.locator("#artifact-summary").get_by_role("link", name="Edit", exact=True).click()
    form = colleague_page.locator("form#artifact-summary")
    form.get_by_label("Comment").fill("Too late.")
    change_sharing(page, artifact, visibility="Shared with groups", analysts="view")
    form.get_by_role("button", name="Save").click()
    expect(colleague_page.locator(".htmx-error")).to_contain_text("ask its owner for edit access")
    assert Artifact.objects.get(pk=artifact.pk).comment == "Checked by a colleague."

    # The owner takes the share back: the same URLs are 404 for the colleague.
    change_sharing(page, artifact, visibility="Private", analysts="")
    expect(page.locator("#artifact-sharing")).to_have_text("Private")
    assert colleague_page.goto(detail).status == 404
    assert colleague_page.goto(export).status == 404
    assert colleague_page.goto(f"{detail}edit/").status == 404
    colleague_page.goto("/artifacts/?scope=shared")
    expect(colleague_page.locator(".artifact-list-none-shared")).to_be_visible()


def test_the_share_dialog_is_a_page_without_javascript(page_without_js: Page, live_server, world):
    page, artifact = page_without_js, world["artifact"]
    sign_in(page, "demo")
    page.goto(artifact.get_absolute_url())
    page.get_by_role("link", name="Share…").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{artifact.pk}/share/$"))
    page.get_by_label("Everyone").check()
    page.get_by_label("Analysts").select_option("edit")
    page.get_by_role("button", name="Save sharing").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{artifact.pk}/$"))
    expect(page.locator("#artifact-sharing")).to_contain_text("Everyone")
    expect(page.locator("#artifact-sharing")).to_contain_text("Analysts · edit")


def test_the_owner_shares_a_chat_and_a_colleague_reads_it(
    page: Page, colleague_page: Page, live_server, world
):
    from apps.llm_chat.models import Message
    from tests.llm_chat.factories import ChatFactory, MessageFactory

    chat = ChatFactory(owner=world["artifact"].owner, title="How orders were counted")
    MessageFactory(chat=chat, content="How many orders per status?")
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="Saved the query.",
        artifact=world["artifact"],
        artifact_action=Message.ArtifactAction.CREATED,
    )
    sign_in(page, "demo")
    page.goto(chat.get_absolute_url())
    page.get_by_role("link", name="Share").click()
    dialog = page.locator("dialog[data-share-dialog]")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Shared with groups").check()
    dialog.get_by_label("Analysts").check()
    dialog.get_by_role("button", name="Save sharing").click()
    expect(page.locator("#chat-header .shared-badge")).to_be_visible()

    # The colleague reads it, without a composer; the artifact is not shared with them.
    sign_in(colleague_page, "colleague")
    colleague_page.goto("/chats/?scope=shared")
    colleague_page.get_by_role("link", name=re.compile("How orders were counted")).click()
    expect(colleague_page.locator("#composer-readonly")).to_be_visible()
    expect(colleague_page.locator("#composer")).to_have_count(0)
    expect(colleague_page.locator(".artifact-card-hidden")).to_contain_text("not shared with you")
