"""Chat basics: a title from the first question, no empty chats, example questions, rename,
delete, search, Stop."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.models import Artifact
from apps.llm_chat.demo import ensure_demo_agent
from apps.llm_chat.models import Chat, Message, title_from_question
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

START = reverse("llm_chat:chat_create")
NEW = reverse("llm_chat:chat_new")
LIST = reverse("llm_chat:chat_list")


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("How many orders were cancelled? And why?", "How many orders were cancelled?"),
        ("  top\n  sellers  ", "top sellers"),
        (
            "Which product categories earned the most revenue in the last twelve months by region",
            "Which product categories earned the most revenue in the…",
        ),
    ],
)
def test_title_from_question(question, title):
    assert title_from_question(question) == title
    assert len(title) <= 60


def test_opening_new_chat_saves_nothing(owner_client):
    AgentFactory(name="Analyst")
    response = owner_client.get(NEW)
    assert response.status_code == 200
    assert 'name="content"' in response.content.decode()
    assert Chat.objects.count() == 0


def test_a_chat_is_not_started_without_a_question(owner_client):
    agent = AgentFactory(name="Analyst")
    response = owner_client.post(START, {"agent": agent.pk, "content": "   "})
    assert response.status_code == 422
    assert "Write a message before sending it." in response.content.decode()
    assert Chat.objects.count() == 0


def test_new_chat_page_offers_the_agents_example_questions(owner_client):
    AgentFactory(name="Analyst", example_questions="Top sellers?\n\n  Cancelled orders by week?  ")
    page = owner_client.get(NEW).content.decode()
    assert 'value="Top sellers?"' in page
    assert 'value="Cancelled orders by week?"' in page


def test_an_example_question_starts_the_chat(owner_client):
    agent = AgentFactory(name="Analyst", example_questions="Top sellers?")
    response = owner_client.post(
        START, {"agent": agent.pk, "content": "", "example": "Top sellers?"}
    )
    chat = Chat.objects.get()
    assert response.url == chat.get_absolute_url()
    assert chat.title == "Top sellers?"
    assert chat.messages.get().content == "Top sellers?"


def test_the_demo_agent_has_example_questions():
    agent, _ = ensure_demo_agent()
    assert len(agent.examples) >= 3
    assert all(question.endswith("?") for question in agent.examples)


def test_chat_list_shows_history_before_the_start_form(owner_client, owner):
    ChatFactory(owner=owner, title="Revenue by month")
    page = owner_client.get(LIST).content.decode()
    assert page.index("Revenue by month") < page.index('id="chat-create-form"')
    assert "order-1" not in page and "order-2" not in page


# --- Search -----------------------------------------------------------------------------------


def test_search_chat_titles(owner_client, owner):
    ChatFactory(owner=owner, title="Revenue by month")
    ChatFactory(owner=owner, title="Cancelled orders")
    page = owner_client.get(LIST, {"q": "revenue"}).content.decode()
    assert "Revenue by month" in page and "Cancelled orders" not in page
    assert 'value="revenue"' in page


def test_search_with_htmx_answers_the_results_only(owner_client, owner):
    ChatFactory(owner=owner, title="Revenue by month")
    response = owner_client.get(
        LIST, {"q": "nothing"}, headers={"HX-Request": "true", "HX-Target": "chat-results"}
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="chat-results">')
    assert "No chat title matches" in content


def test_search_does_not_find_other_users_chats(owner_client, other_user):
    ChatFactory(owner=other_user, title="Secret revenue")
    assert "Secret revenue" not in owner_client.get(LIST, {"q": "revenue"}).content.decode()


# --- Rename and delete ------------------------------------------------------------------------


def rename_url(chat: Chat) -> str:
    return reverse("llm_chat:chat_rename", args=[chat.pk])


def delete_url(chat: Chat) -> str:
    return reverse("llm_chat:chat_delete", args=[chat.pk])


def test_owner_renames_a_chat(owner_client, owner):
    chat = ChatFactory(owner=owner, title="Old")
    response = owner_client.post(rename_url(chat), {"title": "  New name "})
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.title == "New name"


def test_rename_with_htmx_answers_the_header(owner_client, owner):
    chat = ChatFactory(owner=owner, title="Old")
    response = owner_client.post(rename_url(chat), {"title": "New"}, headers={"HX-Request": "true"})
    content = response.content.decode()
    assert '<header id="chat-header"' in content and "<html" not in content
    assert ">New</h1>" in content
    assert "<title>New · LLM Artifacts</title>" in content  # the tab follows
    assert 'id="chat-crumb" hx-swap-oob="true">New<' in content


def test_a_blank_title_is_refused(owner_client, owner):
    chat = ChatFactory(owner=owner, title="Old")
    response = owner_client.post(rename_url(chat), {"title": " "}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "is-invalid" in response.content.decode()
    chat.refresh_from_db()
    assert chat.title == "Old"


def test_others_cannot_rename_or_delete(client, other_user, staff, owner):
    chat = ChatFactory(owner=owner, title="Mine")
    client.force_login(other_user)
    assert client.post(rename_url(chat), {"title": "x"}).status_code == 404
    assert client.post(delete_url(chat)).status_code == 404
    client.force_login(staff)
    assert client.post(rename_url(chat), {"title": "x"}).status_code == 403
    assert client.post(delete_url(chat)).status_code == 403
    chat.refresh_from_db()
    assert chat.title == "Mine"


def test_delete_asks_first_then_deletes_keeping_artifacts(owner_client, owner):
    chat = ChatFactory(owner=owner, title="Doomed")
    MessageFactory(chat=chat)
    artifact = ArtifactFactory(owner=owner, chat=chat, agent=chat.agent)
    confirm = owner_client.get(delete_url(chat))
    assert confirm.status_code == 200
    assert "Delete this chat?" in confirm.content.decode()
    assert Chat.objects.filter(pk=chat.pk).exists()
    response = owner_client.post(delete_url(chat), follow=True)
    assert response.redirect_chain[-1][0] == LIST
    assert "Deleted the chat “Doomed”." in response.content.decode()
    assert not Chat.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.exists()
    assert Artifact.objects.get(pk=artifact.pk).chat is None


def test_chat_page_offers_rename_and_delete_to_the_owner_only(client, owner, staff):
    chat = ChatFactory(owner=owner)
    client.force_login(owner)
    page = client.get(chat.get_absolute_url()).content.decode()
    assert rename_url(chat) in page and delete_url(chat) in page
    client.force_login(staff)
    page = client.get(chat.get_absolute_url()).content.decode()
    assert rename_url(chat) not in page and delete_url(chat) not in page


def test_api_rename_and_delete_are_the_owners(api_client, owner, staff):
    chat = ChatFactory(owner=owner, title="Mine")
    url = reverse("api:chat-detail", args=[chat.pk])
    api_client.force_authenticate(staff)
    assert api_client.patch(url, {"title": "x"}, format="json").status_code == 403
    assert api_client.delete(url).status_code == 403
    assert api_client.get(url).status_code == 200
    api_client.force_authenticate(owner)
    assert api_client.patch(url, {"title": "Renamed"}, format="json").status_code == 200
    assert Chat.objects.get(pk=chat.pk).title == "Renamed"
    assert api_client.delete(url).status_code == 204
    assert not Chat.objects.filter(pk=chat.pk).exists()


# --- Stop ---------------------------------------------------------------------------------------


def stop_url(reply: Message) -> str:
    return reverse("llm_chat:message_stop", args=[reply.chat_id, reply.pk])


def test_stopping_a_pending_reply_whose_writer_died_keeps_its_text(owner_client, owner):
    chat = ChatFactory(owner=owner)
    reply = MessageFactory(chat=chat).start_reply()
    # Its writer stopped renewing its lease (a killed process).
    Message.objects.filter(pk=reply.pk).update(
        content="Half an *answer*", lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = owner_client.post(stop_url(reply), headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"id": reply.pk, "status": "stopped"}
    reply.refresh_from_db()
    assert (reply.status, reply.content) == ("stopped", "Half an *answer*")
    page = owner_client.get(chat.get_absolute_url()).content.decode()
    assert "Half an <em>answer</em>" in page
    assert "Stopped" in page
    assert reverse("llm_chat:message_reply", args=[chat.pk, reply.reply_to_id]) in page  # Retry


def test_stopping_a_reply_written_by_another_process_asks_its_writer(owner_client, owner):
    chat = ChatFactory(owner=owner)
    reply = MessageFactory(chat=chat).start_reply()  # a live lease, no turn in this process
    response = owner_client.post(stop_url(reply), headers={"Accept": "application/json"})
    assert response.json() == {"id": reply.pk, "status": "stopping"}
    reply.refresh_from_db()
    assert (reply.status, reply.stop_requested) == ("pending", True)
    # Had the writer died before it saw the request, its reply ends stopped, not failed.
    Message.objects.filter(pk=reply.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert Message.objects.interrupt_lapsed() == 1
    reply.refresh_from_db()
    assert reply.status == "stopped"


def test_stopping_a_finished_reply_changes_nothing(owner_client, owner):
    chat = ChatFactory(owner=owner)
    reply = MessageFactory(chat=chat).start_reply()
    reply.finish("Done.", [], tokens=(1, 1))
    owner_client.post(stop_url(reply))
    reply.refresh_from_db()
    assert reply.status == "complete"


def test_only_the_owner_stops(client, owner, other_user, staff):
    chat = ChatFactory(owner=owner)
    reply = MessageFactory(chat=chat).start_reply()
    client.force_login(other_user)
    assert client.post(stop_url(reply)).status_code == 404
    client.force_login(staff)
    assert client.post(stop_url(reply)).status_code == 403
    reply.refresh_from_db()
    assert reply.status == "pending"
