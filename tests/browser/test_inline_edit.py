"""After an inline edit, every place the page shows the artifact agrees with it: the
breadcrumb, the tab title and "Updated"; and no control's htmx selector points at nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from tests.browser.test_pages_flow import assert_same_document, demo, mark_document, sign_in

pytestmark = pytest.mark.browser
__all__ = ["demo"]


def test_saving_an_inline_edit_updates_breadcrumb_title_and_updated(page: Page, live_server, demo):
    orders = demo["orders"]
    Artifact.objects.filter(pk=orders.pk).update(updated_at=timezone.now() - dt.timedelta(days=40))
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    sign_in(page)
    page.goto(orders.get_absolute_url())
    expect(page).to_have_title("Orders by status · LLM Artifacts")
    old_updated = page.locator("#artifact-updated").inner_text()
    mark_document(page)

    # Cancel first: its link sits inside the form and must not inherit the form's selector.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#artifact-title")).to_have_text("Orders by status")

    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Title").fill("Orders by status, 2024")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#artifact-title")).to_have_text("Orders by status, 2024")
    expect(page.locator(".breadcrumb .active")).to_have_text("Orders by status, 2024")
    expect(page).to_have_title("Orders by status, 2024 · LLM Artifacts")
    expect(page.locator("#artifact-updated")).not_to_have_text(old_updated)
    assert_same_document(page)
    assert not [line for line in console if "hx-disabled-elt" in line or line.startswith("error")]
