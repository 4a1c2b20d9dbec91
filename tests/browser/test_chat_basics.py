"""Chat basics in a browser: start a chat from an example question (no empty chats left
behind), the composer's keys and focus, Send held and Stop while a reply streams, rename in
place, delete with confirmation, search, long chats' "Load earlier messages", and the chat
list on a phone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_chat.models import Chat, Message
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import FakeLLMServer, say
from tests.llm_agent.factories import AgentFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def provider():
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def analyst(asgi_server, provider, tmp_path: Path, settings):
    shop = build_shop(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}"
    user = UserFactory(username="analyst")
    agent = AgentFactory(
        name="Shop analyst",
        base_url=provider.base_url,
        data_source="marketplace",
        example_questions="Which categories sell best?\nHow many orders were cancelled?",
    )
    return user, agent


def test_new_chat_starts_from_an_example_and_leaves_no_empty_chat(
    asgi_page: Page, analyst, provider
):
    page = asgi_page
    provider.queue(say("Games ", "sell ", "best."))
    sign_in(page)
    page.goto("/chats/new/")
    # Opening the page and leaving saves nothing.
    expect(page.get_by_label("Your question")).to_be_focused()
    page.goto("/chats/")
    assert Chat.objects.count() == 0

    page.goto("/chats/new/")
    page.get_by_role("button", name="Which categories sell best?").click()
    chat = Chat.objects.get()
    expect(page).to_have_url(re.compile(rf"/chats/{chat.pk}/$"))
    expect(page.locator("h1")).to_have_text("Which categories sell best?")
    expect(page.locator("article.chat-message-assistant .chat-bubble")).to_have_text(
        "Games sell best."
    )


def test_enter_sends_shift_enter_adds_a_line_send_waits_and_stop_keeps_the_text(
    asgi_page: Page, analyst, provider
):
    page = asgi_page
    user, agent = analyst
    chat = ChatFactory(owner=user, agent=agent, title="Orders")
    chunks = ["First ", "part ", "of ", "the ", "answer ", *(["more "] * 60)]
    provider.queue(say(*chunks))
    provider.chunk_delay = 0.25
    sign_in(page)
    page.goto(chat.get_absolute_url())
    composer = page.get_by_label("Message")
    expect(composer).to_be_focused()
    expect(page.locator("#composer-hint")).to_have_text("Enter sends, Shift+Enter adds a line.")
    composer.type("How many orders")
    composer.press("Shift+Enter")
    composer.type("by week?")
    composer.press("Enter")
    question = page.locator(".chat-message-user").last
    expect(question).to_contain_text("How many orders")
    assert Message.objects.get(role="user").content == "How many orders\nby week?"

    reply = page.locator("article.chat-message-assistant").last
    expect(reply.locator(".chat-bubble")).to_contain_text("First part")
    send = page.locator("#composer").get_by_role("button", name="Send")
    expect(send).to_be_disabled()
    # Enter does not send a second question while the reply streams.
    composer.fill("Another?")
    composer.press("Enter")
    assert Message.objects.filter(role="user").count() == 1

    reply.get_by_role("button", name="Stop").click()
    saved = page.locator(f"#message-{Message.objects.get(role='assistant').pk}")
    expect(saved.locator(".chat-stopped")).to_contain_text("Stopped")
    expect(saved).not_to_have_class(re.compile(r"\bchat-message-pending\b"))
    expect(send).to_be_enabled()
    stopped = Message.objects.get(role="assistant")
    assert stopped.status == Message.Status.STOPPED
    # What was written before Stop is kept, not the rest.
    assert stopped.content.startswith("First part")
    assert "".join(chunks).startswith(stopped.content)
    assert len(stopped.content) < len("".join(chunks))
    expect(saved.locator(".chat-bubble")).to_contain_text("First part")
    expect(saved.get_by_role("button", name="Retry")).to_be_visible()


def test_touch_devices_add_a_line_with_enter_and_say_so(browser, asgi_server, analyst):
    user, agent = analyst
    chat = ChatFactory(owner=user, agent=agent, title="Orders")
    context = browser.new_context(
        base_url=asgi_server.url,
        viewport={"width": 390, "height": 800},
        has_touch=True,
        is_mobile=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page)
        page.goto(chat.get_absolute_url())
        expect(page.locator("#composer-hint")).to_have_text("Enter adds a line; tap Send to send.")
        composer = page.get_by_label("Message")
        composer.type("one")
        composer.press("Enter")
        composer.type("two")
        expect(composer).to_have_value("one\ntwo")
        assert not Message.objects.exists()
    finally:
        context.close()


def test_rename_in_place_delete_with_confirmation_and_search(asgi_page: Page, analyst):
    page = asgi_page
    user, agent = analyst
    keep = ChatFactory(owner=user, agent=agent, title="Revenue by month")
    doomed = ChatFactory(owner=user, agent=agent, title="Scratch")
    sign_in(page)

    page.goto(keep.get_absolute_url())
    page.locator("summary", has_text="Rename").click()
    page.get_by_label("Title").fill("Monthly revenue")
    page.locator("#chat-rename-form").get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("Monthly revenue")
    expect(page).to_have_title(re.compile("Monthly revenue"))
    keep.refresh_from_db()
    assert keep.title == "Monthly revenue"

    page.goto(doomed.get_absolute_url())
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete this chat?")).to_be_visible()
    assert Chat.objects.filter(pk=doomed.pk).exists()
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/chats/$"))
    expect(page.get_by_text("Deleted the chat “Scratch”.")).to_be_visible()
    assert not Chat.objects.filter(pk=doomed.pk).exists()

    ChatFactory(owner=user, agent=agent, title="Cancelled orders")
    page.reload()
    page.get_by_label("Search chats").fill("revenue")
    page.get_by_label("Search chats").press("Enter")
    results = page.locator("#chat-results")
    expect(results).to_contain_text("Monthly revenue")
    expect(results).not_to_contain_text("Cancelled orders")
    expect(page).to_have_url(re.compile(r"\?q=revenue"))
    # Back: the box and the list agree again.
    page.go_back()
    expect(page.locator("#chat-results")).to_contain_text("Cancelled orders")
    expect(page.get_by_label("Search chats")).to_have_value("")
    page.go_forward()
    expect(page.locator("#chat-results")).not_to_contain_text("Cancelled orders")
    expect(page.get_by_label("Search chats")).to_have_value("revenue")


def test_long_chat_loads_earlier_messages_above(asgi_page: Page, analyst):
    page = asgi_page
    user, agent = analyst
    chat = ChatFactory(owner=user, agent=agent, title="Long")
    for n in range(40):
        question = MessageFactory(chat=chat, content=f"Question {n}?")
        MessageFactory(chat=chat, role="assistant", content=f"Answer {n}.", reply_to=question)
    sign_in(page)
    page.goto(chat.get_absolute_url())
    expect(page.locator("article.chat-message")).to_have_count(50)
    expect(page.get_by_text("Question 14?")).to_have_count(0)
    page.get_by_role("link", name="Load earlier messages").click()
    expect(page.locator("article.chat-message")).to_have_count(80)
    expect(page.locator("article.chat-message").first).to_contain_text("Question 0?")
    expect(page.get_by_role("link", name="Load earlier messages")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/chats/{chat.pk}/$"))


def test_phone_shows_the_history_before_the_start_form(browser, asgi_server, analyst):
    user, agent = analyst
    ChatFactory(owner=user, agent=agent, title="Revenue by month")
    context = browser.new_context(base_url=asgi_server.url, viewport={"width": 390, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page)
        history = page.locator("#chat-list").bounding_box()
        start = page.locator("#chat-create-form").bounding_box()
        assert history["y"] < start["y"]
    finally:
        context.close()


def test_without_javascript_a_chat_starts_and_loads_earlier_pages(page_without_js: Page):
    page = page_without_js
    user = UserFactory(username="analyst")
    AgentFactory(name="Shop analyst", example_questions="Top sellers?")
    sign_in(page)
    page.goto("/chats/new/")
    page.get_by_role("button", name="Top sellers?").click()
    chat = Chat.objects.get(owner=user)
    expect(page).to_have_url(re.compile(rf"/chats/{chat.pk}/$"))
    expect(page.locator("h1")).to_have_text("Top sellers?")
    expect(page.get_by_role("button", name="Get the reply")).to_be_visible()

    for n in range(30):
        question = MessageFactory(chat=chat, content=f"Question {n}?")
        MessageFactory(chat=chat, role="assistant", content=f"Answer {n}.", reply_to=question)
    page.reload()
    page.get_by_role("link", name="Load earlier messages").click()
    expect(page).to_have_url(re.compile(r"\?before=\d+$"))
    expect(page.locator(".chat-message-user").first).to_contain_text("Top sellers?")
    page.get_by_role("link", name="Show the latest messages").click()
    expect(page.locator(".chat-message-user").last).to_contain_text("Question 29?")
