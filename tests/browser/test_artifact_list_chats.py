"""The artifact list's chat filter at scale: a few chats in the select, and a box that finds
the others, with htmx as it is typed and as a plain form field without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.forms import CHAT_CHOICES_SHOWN
from tests.browser.test_csp import watch_csp
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def many_chats(transactional_db):
    user = UserFactory(username="analyst")
    old = ChatFactory(owner=user, title="Refund investigation")
    ArtifactFactory(owner=user, chat=old, title="Refunds by week")
    # Newer chats push the old one out of the select's few choices.
    for n in range(CHAT_CHOICES_SHOWN + 3):
        ArtifactFactory(
            owner=user, chat=ChatFactory(owner=user, title=f"Weekly check {n}"), title=f"Check {n}"
        )
    other = UserFactory(username="someone-else")
    ArtifactFactory(owner=other, chat=ChatFactory(owner=other, title="Refund secrets"))
    return old


def test_find_a_chat_then_filter_by_it(page: Page, live_server, many_chats):
    violations = watch_csp(page)
    sign_in(page)
    page.goto("/artifacts/")
    chat_select = page.get_by_label("Chat", exact=True)
    expect(chat_select.locator("option")).to_have_count(1 + CHAT_CHOICES_SHOWN)
    expect(chat_select.locator("option", has_text="Refund investigation")).to_have_count(0)

    page.get_by_role("searchbox", name="Find a chat").press_sequentially("refund")
    expect(chat_select.locator("option")).to_have_count(2)
    expect(chat_select.locator("option").nth(1)).to_have_text("Refund investigation")
    # Finding a chat does not change the list or its URL.
    expect(page).not_to_have_url(re.compile("chat"))

    chat_select.select_option(label="Refund investigation")
    expect(page).to_have_url(re.compile(rf"[?&]chat={many_chats.pk}"))
    results = page.locator("#artifact-results")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("Refunds by week")
    assert not violations, violations


def test_find_a_chat_without_javascript(page_without_js: Page, live_server, many_chats):
    page = page_without_js
    sign_in(page)
    page.goto("/artifacts/")
    page.get_by_role("searchbox", name="Find a chat").fill("refund")
    page.get_by_role("button", name="Apply").click()
    chat_select = page.get_by_label("Chat", exact=True)
    expect(chat_select.locator("option")).to_have_count(2)

    chat_select.select_option(label="Refund investigation")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"[?&]chat={many_chats.pk}"))
    results = page.locator("#artifact-results")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("Refunds by week")
