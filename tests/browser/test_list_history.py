"""The artifact list's filters always show what its rows are filtered by: after Back,
Forward (htmx restores its snapshots) and a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_pages_flow import demo, sign_in
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser
__all__ = ["demo"]


def titles(page: Page):
    return page.locator(".artifact-table tbody .artifact-link")


def test_back_forward_and_reload_keep_filters_and_rows_together(page: Page, live_server, demo):
    ArtifactFactory(owner=demo["user"], title="Draft revenue", status="draft")
    sign_in(page)
    page.goto("/artifacts/")
    status, search = page.get_by_label("Status"), page.get_by_role("searchbox", name="Search")
    expect(titles(page)).to_have_count(4)

    status.select_option("draft")
    expect(page).to_have_url(re.compile(r"status=draft"))
    expect(titles(page)).to_have_count(2)
    search.fill("revenue")
    expect(page).to_have_url(re.compile(r"q=revenue"))
    expect(titles(page)).to_have_text(["Draft revenue"])

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"q=revenue"))
    expect(titles(page)).to_have_count(2)
    expect(search).to_have_value("")
    expect(status).to_have_value("draft")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/artifacts/$"))
    expect(titles(page)).to_have_count(4)
    expect(status).to_have_value("")
    expect(search).to_have_value("")

    page.go_forward()
    expect(titles(page)).to_have_count(2)
    expect(status).to_have_value("draft")
    page.go_forward()
    expect(titles(page)).to_have_text(["Draft revenue"])
    expect(search).to_have_value("revenue")
    expect(status).to_have_value("draft")

    # A reload: the browser would refill the controls with what was typed last.
    search.fill("zzz")
    page.route(re.compile(r"q=zzz"), lambda route: route.abort())  # the rows stay as they are
    expect(page.locator(".htmx-error")).to_be_visible()
    expect(search).to_have_value("revenue")
    page.unroute(re.compile(r"q=zzz"))
    page.reload()
    expect(titles(page)).to_have_text(["Draft revenue"])
    expect(search).to_have_value("revenue")
    expect(status).to_have_value("draft")
