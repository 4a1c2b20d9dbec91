"""The chat in Russian in a browser: a user who chose Russian starts a chat, the reply streams
in, the agent got Russian instructions, and the switcher changes the language without leaving
the chat."""

# ruff: noqa: RUF001 (Russian text on purpose)

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Profile
from apps.llm_chat.models import Chat
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import FakeLLMServer, call, say
from tests.llm_agent.factories import AgentFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def provider():
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def russian_analyst(asgi_server, provider, tmp_path: Path, settings):
    shop = build_shop(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop}"
    user = UserFactory(username="analyst")
    Profile.objects.create(user=user, language="ru")
    AgentFactory(name="Shop analyst", base_url=provider.base_url, data_source="marketplace")
    return user


def test_a_russian_chat_then_switching_language_keeps_the_chat(
    asgi_page: Page, russian_analyst, provider
):
    page = asgi_page
    provider.queue(call("list_tables", {}), say("Заказов ", "пять."))
    sign_in(page)
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("h1")).to_have_text("Ваши чаты")
    expect(page.locator("#chat-list-empty")).to_contain_text("Чатов пока нет.")

    page.get_by_label("Ваш вопрос").fill("Сколько заказов?")
    page.get_by_role("button", name="Начать чат").click()
    chat = Chat.objects.get()
    chat_url = re.compile(rf"/chats/{chat.pk}/$")
    expect(page).to_have_url(chat_url)
    expect(page.locator("h1")).to_have_text("Сколько заказов?")
    expect(page.locator("article.chat-message-assistant .chat-bubble")).to_have_text(
        "Заказов пять."
    )
    # The script's words come from the JavaScript catalog: the agent's one step, in Russian.
    expect(page.locator(".chat-activity-log summary")).to_have_text("1 шаг")
    assert chat.language == "ru"
    sent = json.dumps(provider.requests[0]["json"], ensure_ascii=False)
    assert "Порядок работы:" in sent
    expect(page.get_by_role("button", name="Отправить")).to_be_visible()
    expect(page.get_by_label("Сообщение")).to_have_attribute("placeholder", "Спросите о данных…")

    # The switcher: English, on the same chat, then Russian again.
    page.get_by_role("button", name="EN").click()
    expect(page).to_have_url(chat_url)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Сколько заказов?")
    assert Profile.language_of(russian_analyst) == "en"

    page.get_by_role("button", name="RU").click()
    expect(page).to_have_url(chat_url)
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("button", name="Отправить")).to_be_visible()
    expect(page.locator("article.chat-message-assistant .chat-bubble")).to_have_text(
        "Заказов пять."
    )
