"""The chat in Russian: its pages for a user who chose Russian, a chat's language, and the
agent's instructions in the chat's language (seen by the scripted provider on loopback)."""

# ruff: noqa: RUF001 (Russian text on purpose)

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.accounts.models import Profile
from apps.llm_chat.agent import ToolActivity, run_turn_sync
from apps.llm_chat.demo import DEMO_EXAMPLE_QUESTIONS
from apps.llm_chat.models import Chat, Message
from apps.llm_chat.services import post_user_message
from tests.conftest import PASSWORD
from tests.fakes.llm_server import say
from tests.fakes.scripted import Call, Say, ScriptedModel
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db


def sign_in(client, user, language: str = "") -> None:
    if language:
        Profile.objects.create(user=user, language=language)
    assert client.post(reverse("login"), {"username": user.username, "password": PASSWORD})


@pytest.fixture
def ru_client(client, owner):
    """The owner, signed in with Russian chosen on their profile; the browser asks English."""
    sign_in(client, owner, "ru")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def text_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_the_chat_list_in_russian(ru_client, owner):
    chat = ChatFactory(owner=owner, title="Заказы за март")
    chat.agent.example_questions = DEMO_EXAMPLE_QUESTIONS
    chat.agent.save()
    ChatFactory(owner=owner, agent=chat.agent)
    page = text_of(ru_client.get(reverse("llm_chat:chat_list")))
    assert '<html lang="ru">' in page
    assert "Ваши чаты" in page
    assert "2 чата" in page
    assert "Заказы за март" in page
    assert "Начать чат" in page
    assert 'placeholder="Спросите о данных…"' in page
    # The demo's example questions read in Russian, and send the Russian question.
    assert "Или попробуйте:" in page
    assert 'value="Какая доля покупателей заказывала больше одного раза?"' in page
    assert "What share of customers ordered more than once?" not in page


def test_the_chat_list_in_english_stays_english(client, owner):
    chat = ChatFactory(owner=owner)
    chat.agent.example_questions = DEMO_EXAMPLE_QUESTIONS
    chat.agent.save()
    sign_in(client, owner)
    page = text_of(client.get(reverse("llm_chat:chat_list"), HTTP_ACCEPT_LANGUAGE="en"))
    assert "Your chats" in page and "1 chat" in page and "Or try:" in page
    assert "What share of customers ordered more than once?" in page


def test_an_empty_search_in_russian(ru_client, owner):
    ChatFactory(owner=owner)
    page = text_of(ru_client.get(reverse("llm_chat:chat_list"), {"q": "нет такого"}))
    assert "0 чатов" in page
    assert "Нет чатов с названием, подходящим под «нет такого»." in page


def test_the_chat_page_in_russian(ru_client, owner):
    chat = ChatFactory(owner=owner, title="Выручка")
    question = MessageFactory(chat=chat, content="Сколько заказов?")
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="",
        status=Message.Status.ERROR,
        reply_to=question,
    )
    page = text_of(ru_client.get(chat.get_absolute_url()))
    assert "Сколько заказов?" in page
    assert "Ответ не удался." in page
    assert "Повторить" in page
    assert "Переименовать" in page
    assert "Отправить" in page
    assert "Enter отправляет, Shift+Enter добавляет строку." in page
    assert ">Чаты</a>" in page


def test_an_empty_message_is_refused_in_russian(ru_client, owner):
    chat = ChatFactory(owner=owner)
    response = ru_client.post(reverse("llm_chat:message_create", args=[chat.pk]), {"content": " "})
    assert response.status_code in (200, 422)
    assert "Напишите сообщение, прежде чем отправлять." in response.content.decode()
    assert not chat.messages.exists()


def test_a_reader_is_told_in_russian_whose_chat_it_is(client, owner, other_user):
    chat = ChatFactory(owner=owner, visibility="everyone")
    sign_in(client, other_user, "ru")
    page = text_of(client.get(chat.get_absolute_url()))
    assert f"Вы читаете чат пользователя {owner.username}; писать в нём может только он." in page


def test_deleting_a_chat_says_so_in_russian(ru_client, owner):
    chat = ChatFactory(owner=owner, title="Старый чат")
    response = ru_client.post(reverse("llm_chat:chat_delete", args=[chat.pk]), follow=True)
    assert "Чат «Старый чат» удалён." in text_of(response)


@pytest.mark.parametrize(("language", "expected"), [("ru", "ru"), ("", "en")])
def test_a_new_chat_keeps_the_language_of_the_page(client, owner, language, expected):
    agent = ChatFactory(owner=owner).agent
    sign_in(client, owner, language)
    response = client.post(
        reverse("llm_chat:chat_create"),
        {"agent": agent.pk, "content": "Сколько заказов?"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    chat = Chat.objects.get(messages__content="Сколько заказов?")
    assert chat.language == expected


def provider_instructions(server) -> str:
    return json.dumps(server.requests[0]["json"], ensure_ascii=False)


def test_the_agent_of_a_russian_chat_gets_russian_instructions(chat, server):
    chat.language = "ru"
    chat.save()
    server.queue(say("Заказов пять."))
    outcome = run_turn_sync(chat, post_user_message(chat, content="Сколько заказов?"))
    assert outcome.reply.status == Message.Status.COMPLETE
    sent = provider_instructions(server)
    assert "Порядок работы:" in sent
    assert "Отвечай на языке вопроса пользователя." in sent
    assert "пиши на русском языке, языке этого чата" in sent
    assert "Work like this:" not in sent


def test_the_agent_of_an_english_chat_gets_english_instructions(chat, server):
    server.queue(say("Five orders."))
    run_turn_sync(chat, post_user_message(chat, content="How many orders?"))
    sent = provider_instructions(server)
    assert "Work like this:" in sent
    assert "Answer in the language of the user's question." in sent
    assert "in English, the chat's language" in sent
    assert "Порядок работы" not in sent


def test_the_agents_steps_read_in_the_chats_language(owner, shop):
    chat = ChatFactory(owner=owner, language="ru")
    script = ScriptedModel(
        [Call("list_tables", {}), Call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})],
        Call("save_artifact", {"title": "Заказы", "sql": "SELECT COUNT(*) AS n FROM orders"}),
        Say("Готово."),
    )
    outcome = run_turn_sync(
        chat, post_user_message(chat, content="Сколько заказов?"), model=script.model
    )
    labels = [e.label for e in outcome.events if isinstance(e, ToolActivity)]
    assert "Просматриваем таблицы" in labels
    assert "Выполняем SQL" in labels
    assert "Выполнен SQL (1 строка)" in labels
    assert "Сохраняем артефакт «Заказы»" in labels
    assert "Сохранён артефакт «Заказы»" in labels


def test_a_chat_made_through_the_api_keeps_the_requests_language(owner_api, owner):
    agent = ChatFactory(owner=owner).agent
    response = owner_api.post(
        reverse("api:chat-list"),
        {"agent": agent.pk, "title": "Заказы"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 201, response.content
    assert response.json()["language"] == "ru"
    assert Chat.objects.get(pk=response.json()["id"]).language == "ru"
