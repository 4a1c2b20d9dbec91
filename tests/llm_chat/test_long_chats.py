"""Long chats: the page opens on the latest messages, loads earlier ones on demand, and shows
each final reply's Markdown as stored once, not rendered on every view."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core import markdown
from apps.llm_chat import views
from apps.llm_chat.models import Chat, Message
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(owner):
    return ChatFactory(owner=owner, title="Revenue questions")


def chat_url(chat: Chat) -> str:
    return reverse("llm_chat:chat_detail", args=[chat.pk])


def add_turns(chat: Chat, turns: int) -> list[Message]:
    made = []
    for n in range(turns):
        question = MessageFactory(chat=chat, content=f"Question number {n}?")
        reply = MessageFactory(
            chat=chat, role=Message.Role.ASSISTANT, content=f"**Answer {n}.**", reply_to=question
        )
        made += [question, reply]
    return made


def test_a_long_chat_opens_on_its_latest_messages(owner_client, chat):
    made = add_turns(chat, 40)  # 80 messages
    page = owner_client.get(chat_url(chat)).content.decode()
    assert "Question number 39?" in page
    assert "Question number 15?" in page  # the 50th message from the end
    assert "Question number 14?" not in page
    first_shown = made[-views.MESSAGES_PER_PAGE]
    assert f'href="{chat_url(chat)}?before={first_shown.pk}"' in page
    assert "Load earlier messages" in page


def test_a_short_chat_has_no_earlier_link(owner_client, chat):
    add_turns(chat, 3)
    page = owner_client.get(chat_url(chat)).content.decode()
    assert "Question number 0?" in page
    assert "Load earlier messages" not in page


def test_earlier_messages_without_javascript(owner_client, chat):
    made = add_turns(chat, 40)
    first_shown = made[-views.MESSAGES_PER_PAGE]
    response = owner_client.get(f"{chat_url(chat)}?before={first_shown.pk}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Question number 0?" in page and "Question number 14?" in page
    assert "Question number 15?" not in page
    assert "Load earlier messages" not in page  # 30 messages: the first page
    assert "Show the latest messages" in page
    assert 'id="composer"' in page


def test_load_earlier_with_htmx_answers_only_the_page_before(owner_client, chat):
    made = add_turns(chat, 60)  # 120 messages: three pages
    latest_first = made[-views.MESSAGES_PER_PAGE]
    response = owner_client.get(
        f"{chat_url(chat)}?before={latest_first.pk}", headers={"HX-Request": "true"}
    )
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in fragment and 'id="composer"' not in fragment
    assert "Question number 34?" in fragment and "Question number 10?" in fragment
    assert "Question number 9?" not in fragment and "Question number 35?" not in fragment
    page_first = made[-2 * views.MESSAGES_PER_PAGE]
    assert f"?before={page_first.pk}" in fragment
    assert fragment.index('id="chat-earlier"') < fragment.index("Question number 10?")


def test_before_must_be_a_message_id_of_this_chat(owner_client, chat, owner):
    add_turns(chat, 2)
    elsewhere = MessageFactory(chat=ChatFactory(owner=owner))
    assert owner_client.get(f"{chat_url(chat)}?before=abc").status_code == 400
    assert owner_client.get(f"{chat_url(chat)}?before={elsewhere.pk}").status_code == 404


def test_the_page_before_costs_the_same_queries(owner_client, chat, assert_get_queries):
    made = add_turns(chat, 150)
    # One more than the latest page: the message named by ?before=.
    assert_get_queries(owner_client, f"{chat_url(chat)}?before={made[-50].pk}", most=7)


# --- Stored HTML ----------------------------------------------------------------------------


def test_a_finished_reply_stores_its_sanitised_html(chat):
    question = MessageFactory(chat=chat)
    reply = question.start_reply()
    assert reply.content_html == ""
    reply.finish("**Done** <script>alert(1)</script>", [], tokens=(1, 1))
    reply.refresh_from_db()
    assert "<strong>Done</strong>" in reply.content_html
    assert "<script>" not in reply.content_html
    assert reply.content_html_version == markdown.RENDERER_VERSION


def test_a_failed_reply_stores_what_arrived_as_html(chat):
    reply = MessageFactory(chat=chat).start_reply()
    reply.fail("The provider timed out.", "Partial *answer*", [], tokens=(0, 0))
    reply.refresh_from_db()
    assert "<em>answer</em>" in reply.content_html


def test_the_page_shows_the_stored_html(owner_client, chat):
    reply = MessageFactory(chat=chat).start_reply()
    reply.finish("Plain words", [], tokens=(1, 1))
    # What is stored is what is shown: the text is not rendered again.
    Message.objects.filter(pk=reply.pk).update(content_html="<p>Stored <em>once</em></p>")
    page = owner_client.get(chat_url(chat)).content.decode()
    assert "<p>Stored <em>once</em></p>" in page


def test_replies_without_html_are_filled_on_first_view(owner_client, chat):
    add_turns(chat, 2)
    assert not Message.objects.filter(content_html_version__gt=0).exists()
    page = owner_client.get(chat_url(chat)).content.decode()
    assert "<strong>Answer 1.</strong>" in page
    replies = Message.objects.filter(role=Message.Role.ASSISTANT)
    assert [r.content_html for r in replies] == [
        "<p><strong>Answer 0.</strong></p>\n",
        "<p><strong>Answer 1.</strong></p>\n",
    ]
    assert {r.content_html_version for r in replies} == {markdown.RENDERER_VERSION}


def test_a_new_renderer_renders_stored_html_again(owner_client, chat, monkeypatch):
    add_turns(chat, 1)
    owner_client.get(chat_url(chat))
    Message.objects.filter(role=Message.Role.ASSISTANT).update(content_html="<p>old</p>")
    assert "<p>old</p>" in owner_client.get(chat_url(chat)).content.decode()
    monkeypatch.setattr("apps.llm_chat.models.RENDERER_VERSION", markdown.RENDERER_VERSION + 1)
    page = owner_client.get(chat_url(chat)).content.decode()
    assert "<p>old</p>" not in page and "<strong>Answer 0.</strong>" in page
    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.content_html_version == markdown.RENDERER_VERSION + 1


def test_a_streaming_reply_is_rendered_as_it_stands(owner_client, chat):
    reply = MessageFactory(chat=chat).start_reply()
    Message.objects.filter(pk=reply.pk).update(content="So *far*")
    page = owner_client.get(chat_url(chat)).content.decode()
    assert "So <em>far</em>" in page
    reply.refresh_from_db()
    assert reply.content_html == ""


def test_an_operator_edit_in_the_admin_renders_the_html_again(staff_client, chat):
    reply = MessageFactory(chat=chat).start_reply()
    reply.finish("Before", [], tokens=(1, 1))
    url = reverse("admin:llm_chat_message_change", args=[reply.pk])
    form = {
        "chat": chat.pk,
        "role": "assistant",
        "status": "complete",
        "content": "After *edit*",
        "error": "",
        "reply_to": reply.reply_to_id,
        "artifact": "",
        "artifact_action": "",
        "input_tokens": "1",
        "output_tokens": "1",
        "model_messages": "[]",
        "artifact_links-TOTAL_FORMS": "0",
        "artifact_links-INITIAL_FORMS": "0",
    }
    response = staff_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    reply.refresh_from_db()
    assert reply.content_html == "<p>After <em>edit</em></p>\n"
