"""Replies that outlive the page, in a browser: ask, close the page while the reply is being
written, reopen the chat and watch the reply finish there; and Stop ends another reply, which
keeps what was written.

The app runs under uvicorn (asgi_server) so the reply really streams; the loopback fake
provider sends the text slowly enough to close the page in the middle.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_chat.models import Message
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import FakeLLMServer, say
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.browser

WORDS = [f"word{n} " for n in range(30)]
PENDING = re.compile(r"\bchat-message-pending\b")


@pytest.fixture
def provider():
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def chat(asgi_server, provider, tmp_path: Path, settings):
    shop = build_shop(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}"
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Long answers")
    chat.agent.base_url = provider.base_url
    chat.agent.save()
    return chat


def ask(page: Page, chat, question: str) -> None:
    page.get_by_label("Message").fill(question)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-message-user").last).to_contain_text(question)


def test_a_reply_goes_on_after_the_page_closes_and_stop_ends_another(
    asgi_page: Page, chat, provider
):
    page = asgi_page
    context = page.context
    provider.queue(say(*WORDS))
    provider.chunk_delay = 0.15
    sign_in(page)
    page.goto(chat.get_absolute_url())

    ask(page, chat, "Tell me a long story.")
    reply = page.locator("article.chat-message-assistant").last
    expect(reply.locator(".chat-bubble")).to_contain_text("word2")
    page.close()  # mid-reply: the turn goes on on the server

    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(chat.get_absolute_url())
    saved = Message.objects.get(role="assistant")
    reply = page.locator(f"#message-{saved.pk}")
    # Reopened while it is still being written: it continues live from where it is.
    expect(reply).to_have_class(PENDING)
    expect(reply.locator(".chat-bubble")).to_contain_text("word2")
    expect(reply).not_to_have_class(PENDING, timeout=15_000)
    expect(reply.locator(".chat-bubble")).to_have_text("".join(WORDS).strip())
    saved.refresh_from_db()
    assert (saved.status, saved.content) == ("complete", "".join(WORDS))

    # Another reply: Stop ends it, keeping what was written.
    provider.queue(say(*WORDS))
    ask(page, chat, "And another one.")
    second = page.locator("article.chat-message-assistant").last
    expect(second.locator(".chat-bubble")).to_contain_text("word2")
    second.get_by_role("button", name="Stop").click()
    stopped = Message.objects.filter(role="assistant").order_by("-pk").first()
    final = page.locator(f"#message-{stopped.pk}")
    expect(final).not_to_have_class(PENDING)
    expect(final.locator(".chat-stopped")).to_contain_text("Stopped")
    expect(final.get_by_role("button", name="Retry")).to_be_visible()
    stopped.refresh_from_db()
    assert stopped.status == "stopped"
    assert stopped.content.startswith("word0 word1 word2")
    assert "word29" not in stopped.content
    assert not errors, f"JavaScript errors on the reopened page: {errors}"
