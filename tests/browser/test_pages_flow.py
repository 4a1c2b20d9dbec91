"""The flow people click through: sign in, open a chat, follow an artifact card, edit the
comment inline, then filter the artifact list. htmx must do its swaps without reloading."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Message
from tests.conftest import PASSWORD, UserFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Orders this quarter")
    MessageFactory(chat=chat, content="How many orders are in each status?")
    orders = ArtifactFactory(
        owner=user,
        chat=chat,
        agent=chat.agent,
        title="Orders by status",
        sql_query="SELECT status, COUNT(*) AS orders\nFROM orders\nGROUP BY status",
    )
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="Here is the count per status.",
        artifact=orders,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    cancelled = ArtifactFactory(
        owner=user,
        chat=chat,
        agent=chat.agent,
        title="Cancelled orders per week",
        status=Artifact.Status.DRAFT,
        sql_query="SELECT strftime('%Y-%W', ordered_at) AS week, COUNT(*)\nFROM orders\n"
        "WHERE status = 'cancelled' GROUP BY week",
    )
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="And the cancelled ones per week.",
        artifact=cancelled,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    ArtifactFactory(
        owner=user,
        title="Revenue by seller",
        status=Artifact.Status.DEPRECATED,
        sql_query="SELECT name, rating FROM sellers",
        description="Revenue per seller.",
    )
    return {"user": user, "chat": chat, "orders": orders, "cancelled": cancelled}


def mark_document(page: Page) -> None:
    """Tag the loaded document: if the tag survives an action, htmx swapped in place."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def sign_in(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("analyst")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chats/$"))


def test_chat_card_to_artifact_edit_and_list_filters(page: Page, live_server, demo):
    orders, cancelled = demo["orders"], demo["cancelled"]

    sign_in(page)
    page.get_by_role("link", name=re.compile("Orders this quarter")).click()
    expect(page.get_by_role("heading", name="Orders this quarter")).to_be_visible()

    # The artifact cards are inline in the conversation.
    card = page.locator(f"[data-artifact-card='{orders.pk}']")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Orders by status")
    expect(card).to_contain_text("Created artifact")
    expect(card).to_contain_text("Active")
    expect(card.locator(".sql-highlight")).to_contain_text("GROUP BY status")
    expect(page.locator(f"[data-artifact-card='{cancelled.pk}']")).to_contain_text("Draft")

    # The composer appends the message without a reload; the reply streams in below it (here
    # the agent's provider is not reachable, which the reply says: tests/browser/
    # test_chat_stream.py runs the streaming under ASGI).
    mark_document(page)
    page.get_by_label("Message").fill("Can you split it by country?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-message-user").last).to_contain_text("Can you split it by country?")
    expect(page.locator(".chat-message-assistant").last).to_contain_text(
        "The assistant is not reachable right now"
    )
    expect(page.get_by_label("Message")).to_have_value("")
    assert_same_document(page)
    assert Message.objects.filter(content="Can you split it by country?").exists()

    # Follow the card to its artifact.
    card.get_by_role("link", name="Orders by status").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{orders.pk}/$"))
    expect(page.get_by_role("heading", name="Orders by status", level=1)).to_be_visible()

    # Edit inline: a validation error shows in place, then the comment is saved.
    mark_document(page)
    page.locator("#artifact-summary").get_by_role("link", name="Edit").click()
    form = page.locator("form#artifact-summary")
    expect(form).to_be_visible()
    form.get_by_label("Title").fill("")
    form.get_by_role("button", name="Save").click()
    expect(form).to_contain_text("This field is required.")
    form.get_by_label("Title").fill("Orders by status")
    form.get_by_label("Comment").fill("Checked against the finance report.")
    form.get_by_role("button", name="Save").click()
    summary = page.locator("section#artifact-summary")
    expect(summary).to_contain_text("Saved.")
    expect(summary.locator("#artifact-comment")).to_have_text("Checked against the finance report.")
    expect(page).to_have_url(re.compile(rf"/artifacts/{orders.pk}/$"))
    assert_same_document(page)
    orders.refresh_from_db()
    assert orders.comment == "Checked against the finance report."

    # The artifact list: sortable columns, live search and a status filter, URL in step.
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Artifacts", exact=True
    ).click()
    results = page.locator("#artifact-results")
    expect(page.locator("#artifact-count")).to_have_text("3 artifacts")
    mark_document(page)
    page.get_by_role("link", name="Title").click()
    expect(page).to_have_url(re.compile(r"sort=title"))
    expect(results.locator("tbody tr").first).to_contain_text("Cancelled orders per week")
    page.get_by_role("link", name="Title").click()
    expect(page).to_have_url(re.compile(r"sort=-title"))
    expect(results.locator("tbody tr").first).to_contain_text("Revenue by seller")

    page.get_by_role("searchbox", name="Search").press_sequentially("orders")
    expect(page).to_have_url(re.compile(r"[?&]q=orders"))
    expect(results.locator("tbody tr")).to_have_count(2)
    # The chosen sort survives a change of filters.
    expect(page).to_have_url(re.compile(r"sort=-title"))
    expect(results.locator("tbody tr").first).to_contain_text("Orders by status")

    page.get_by_label("Status").select_option("draft")
    expect(page).to_have_url(re.compile(r"status=draft"))
    expect(page).to_have_url(re.compile(r"q=orders"))
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("Cancelled orders per week")

    page.get_by_label("Status").select_option("deprecated")
    expect(page).to_have_url(re.compile(r"status=deprecated"))
    expect(results).to_contain_text("No artifacts match these filters.")
    assert_same_document(page)

    # The URL is a real page: loading it afresh gives the same list.
    page.get_by_label("Status").select_option("draft")
    expect(page).to_have_url(re.compile(r"status=draft"))
    page.reload()
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("Cancelled orders per week")
    expect(page.get_by_label("Status")).to_have_value("draft")
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("orders")


def test_the_same_flow_works_without_javascript(page_without_js: Page, live_server, demo):
    page, orders = page_without_js, demo["orders"]
    sign_in(page)

    page.get_by_role("link", name=re.compile("Orders this quarter")).click()
    page.get_by_label("Message").fill("Plain form post")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/chats/\d+/#message-\d+$"))
    expect(page.locator(".chat-message-user").last).to_contain_text("Plain form post")
    # The post ran the turn; its provider is not reachable, and the reply says so.
    expect(page.locator(".chat-message-assistant").last).to_contain_text(
        "The assistant is not reachable right now"
    )
    expect(page.get_by_role("button", name="Retry")).to_be_visible()

    page.locator(f"[data-artifact-card='{orders.pk}']").get_by_role(
        "link", name="Orders by status"
    ).click()
    page.locator("#artifact-summary").get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{orders.pk}/edit/$"))
    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("form#artifact-summary")).to_contain_text("This field is required.")
    page.get_by_label("Title").fill("Orders by status")
    page.get_by_label("Comment").fill("Edited without JavaScript.")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{orders.pk}/$"))
    expect(page.locator("#artifact-comment")).to_have_text("Edited without JavaScript.")

    page.goto("/artifacts/")
    page.get_by_role("searchbox", name="Search").fill("orders")
    page.get_by_label("Status").select_option("draft")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"q=orders.*status=draft"))
    results = page.locator("#artifact-results")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("Cancelled orders per week")

    # Delete through the confirmation page.
    results.get_by_role("link", name="Cancelled orders per week").click()
    page.get_by_role("link", name="Delete artifact").click()
    expect(page.get_by_role("heading", name="Delete this artifact?")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/artifacts/$"))
    expect(page.get_by_role("status")).to_contain_text("Deleted the artifact")
    assert not Artifact.objects.filter(pk=demo["cancelled"].pk).exists()
