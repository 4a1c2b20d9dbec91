"""Export three artifacts from the list and import them as another user, with the dry run
first: the flow docs/bundles.md describes, clicked through."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from tests.conftest import PASSWORD, UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def people(transactional_db, tmp_path, settings):
    sample.use_sqlite(tmp_path, settings)
    analyst = UserFactory(username="analyst")
    colleague = UserFactory(username="colleague")
    chosen = [ArtifactFactory(owner=analyst, title=f"Chosen query {n}") for n in range(3)]
    ArtifactFactory(owner=analyst, title="Left behind")
    return {"analyst": analyst, "colleague": colleague, "chosen": chosen}


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chats/$"))


def test_export_three_and_import_them_as_another_user(page: Page, people, tmp_path):
    sign_in(page, "analyst")
    page.goto("/artifacts/")
    for artifact in people["chosen"]:
        row = page.locator(".artifact-table tbody tr", has_text=artifact.title)
        row.get_by_role("checkbox", name="Select for export").check()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export selected").click()
    bundle_path = tmp_path / "bundle.json"
    download_info.value.save_as(bundle_path)
    bundle = json.loads(bundle_path.read_text())
    assert sorted(item["title"] for item in bundle["artifacts"]) == [
        "Chosen query 0",
        "Chosen query 1",
        "Chosen query 2",
    ]

    page.context.clear_cookies()
    sign_in(page, "colleague")
    page.goto("/artifacts/")
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Bundle file").set_input_files(bundle_path)
    # Same database, same uids: the colleague takes copies of their own.
    page.get_by_label("Artifacts that exist already").select_option("copy")
    page.get_by_role("button", name="Upload and check").click()

    # The dry run: what would happen, and nothing written yet.
    expect(page.locator("#import-counts")).to_contain_text("3 to create")
    expect(page.locator("#import-items tbody tr")).to_have_count(3)
    assert not Artifact.objects.filter(owner=people["colleague"]).exists()

    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(r"/artifacts/$"))
    expect(page.get_by_role("status")).to_contain_text("Imported: 3 created")
    expect(page.locator(".artifact-table tbody .artifact-link")).to_have_count(3)
    mine = Artifact.objects.filter(owner=people["colleague"])
    assert sorted(mine.values_list("title", flat=True)) == [
        "Chosen query 0",
        "Chosen query 1",
        "Chosen query 2",
    ]
    assert not set(mine.values_list("uid", flat=True)) & {a.uid for a in people["chosen"]}


def test_without_javascript_export_and_import_are_plain_forms(page_without_js: Page, people):
    page = page_without_js
    sign_in(page, "analyst")
    page.goto("/artifacts/")
    row = page.locator(".artifact-table tbody tr", has_text="Chosen query 1")
    row.get_by_role("checkbox", name="Select for export").check()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export selected").click()
    bundle = json.loads(Path(download_info.value.path()).read_text())
    assert [item["title"] for item in bundle["artifacts"]] == ["Chosen query 1"]

    page.goto("/artifacts/import/")
    page.get_by_label("Bundle file").set_input_files(
        files=[{"name": "b.json", "mimeType": "application/json", "buffer": b"{broken"}]
    )
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#import-upload")).to_contain_text("cannot be read")
