"""The library, clicked through: tag and verify an artifact on its page (htmx, in place),
then find it in the library by a word of its SQL, with its badge and tag; and the same
without JavaScript (plain forms and links)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from tests.browser.test_pages_flow import assert_same_document, demo, mark_document, sign_in

pytestmark = pytest.mark.browser
__all__ = ["demo"]


def tag_and_verify(page: Page, url: str, *, same_document: bool) -> None:
    page.goto(url)
    if same_document:
        mark_document(page)
    page.get_by_label("Add tags").fill("operations, weekly")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#artifact-tags")).to_contain_text("operations")
    expect(page.locator("#artifact-tags")).to_contain_text("weekly")
    page.get_by_role("button", name="Remove the tag weekly").click()
    expect(page.locator("#artifact-tags")).not_to_contain_text("weekly")
    page.get_by_label("The question it answers").fill("How many orders are in each status?")
    page.get_by_role("button", name="Mark as verified").click()
    expect(page.locator("#artifact-verified")).to_contain_text("Verified")
    expect(page.get_by_role("button", name="Remove the verified mark")).to_be_visible()
    if same_document:
        assert_same_document(page)


def find_in_library(page: Page) -> None:
    page.get_by_role("link", name="Library").first.click()
    expect(page).to_have_url(re.compile(r"/library/$"))
    expect(page.get_by_role("heading", name=re.compile("operations"))).to_be_visible()
    # "group" is a word of the SQL only (GROUP BY status).
    page.get_by_label(re.compile("Search titles")).fill("group")
    page.get_by_role("button", name="Search").click()
    # Verified first: ours leads whatever else has GROUP BY in its SQL.
    row = page.locator("#library-search-results .library-row").first
    expect(row.get_by_role("link", name="Orders by status")).to_be_visible()
    expect(row.locator(".verified-badge")).to_be_visible()
    expect(row).to_contain_text("operations")


def test_tag_verify_and_find_in_the_library(page: Page, live_server, demo):
    orders = demo["orders"]
    sign_in(page)
    tag_and_verify(page, orders.get_absolute_url(), same_document=True)
    artifact = Artifact.objects.get(pk=orders.pk)
    assert artifact.is_verified
    assert [t.name for t in artifact.tags.all()] == ["operations"]
    find_in_library(page)


def test_the_same_without_javascript(page_without_js: Page, live_server, demo):
    sign_in(page_without_js)
    tag_and_verify(page_without_js, demo["orders"].get_absolute_url(), same_document=False)
    find_in_library(page_without_js)
