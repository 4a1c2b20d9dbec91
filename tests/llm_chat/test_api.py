from __future__ import annotations

import pytest
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.urls import reverse

from apps.llm_chat.models import Chat, Message
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:chat-list")


def detail_url(chat: Chat) -> str:
    return reverse("api:chat-detail", args=[chat.pk])


def messages_url(chat: Chat) -> str:
    return reverse("api:chat-messages", args=[chat.pk])


def titles(response) -> list[str]:
    return [row["title"] for row in response.json()["results"]]


# --- chats: who sees what ----------------------------------------------------------------------


def test_owner_lists_their_chats_with_counts(owner_api, owner, other_user):
    chat = ChatFactory(owner=owner, title="Revenue")
    MessageFactory.create_batch(3, chat=chat)
    ArtifactFactory.create_batch(2, owner=owner, chat=chat)
    ChatFactory(owner=other_user, title="Theirs")

    response = owner_api.get(LIST_URL)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["title"] == "Revenue"
    assert row["message_count"] == 3
    assert row["artifact_count"] == 2
    assert row["agent"] == chat.agent.pk
    assert row["agent_name"] == chat.agent.name
    assert row["owner"] == "owner"
    assert row["messages_url"].endswith(messages_url(chat))


def test_staff_lists_everyones_chats_with_scope_all(staff_api, owner, other_user):
    # Issue 12: staff's list shows their own and shared chats; `scope=all` shows every one.
    ChatFactory(owner=owner, title="Mine")
    ChatFactory(owner=other_user, title="Theirs")

    assert titles(staff_api.get(LIST_URL)) == []
    assert sorted(titles(staff_api.get(LIST_URL, {"scope": "all"}))) == ["Mine", "Theirs"]


def test_chats_with_recent_activity_come_first(owner_api, owner):
    older = ChatFactory(owner=owner, title="Older")
    ChatFactory(owner=owner, title="Newer")
    assert titles(owner_api.get(LIST_URL)) == ["Newer", "Older"]

    owner_api.post(messages_url(older), {"content": "One more question"}, format="json")

    assert titles(owner_api.get(LIST_URL)) == ["Older", "Newer"]


@pytest.mark.parametrize(
    ("method", "payload"),
    [("get", None), ("patch", {"title": "Hijacked"}), ("put", {"title": "Hijacked"})],
)
def test_other_user_gets_404_and_changes_nothing(other_api, owner, method, payload):
    chat = ChatFactory(owner=owner, title="Revenue")
    if method == "put":
        payload["agent"] = chat.agent.pk

    response = getattr(other_api, method)(detail_url(chat), payload, format="json")

    assert response.status_code == 404
    chat.refresh_from_db()
    assert chat.title == "Revenue"


def test_other_user_cannot_delete_a_chat(other_api, owner):
    chat = ChatFactory(owner=owner)

    assert other_api.delete(detail_url(chat)).status_code == 404
    assert Chat.objects.filter(pk=chat.pk).exists()


def test_staff_can_read_but_not_rename_anyones_chat(staff_api, owner):
    # Renaming is a write: the owner's only (Chat.can_post), as on the pages.
    chat = ChatFactory(owner=owner, title="Mine")

    assert staff_api.get(detail_url(chat)).status_code == 200
    response = staff_api.patch(detail_url(chat), {"title": "Renamed by staff"}, format="json")

    assert response.status_code == 403
    chat.refresh_from_db()
    assert chat.title == "Mine"
    assert chat.owner == owner


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_refused_chats(api_client, owner, method):
    ChatFactory(owner=owner, title="Secret")

    response = getattr(api_client, method)(LIST_URL, {"title": "x"}, format="json")

    assert response.status_code == 401
    assert "Secret" not in response.content.decode()
    assert Chat.objects.count() == 1


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_anonymous_is_refused_a_chat(api_client, owner, method):
    chat = ChatFactory(owner=owner, title="Secret")

    response = getattr(api_client, method)(detail_url(chat), {"title": "x"}, format="json")

    assert response.status_code == 401
    assert Chat.objects.filter(title="Secret").exists()


# --- chats: create, update, delete -------------------------------------------------------------


def test_owner_starts_a_chat_with_an_active_agent(owner_api, owner):
    agent = AgentFactory(name="Analyst")

    response = owner_api.post(LIST_URL, {"title": "Churn", "agent": agent.pk}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["message_count"], body["artifact_count"]) == (0, 0)
    assert body["agent_name"] == "Analyst"
    chat = Chat.objects.get(pk=body["id"])
    assert (chat.owner, chat.agent, chat.title) == (owner, agent, "Churn")


@pytest.mark.parametrize("agent_state", ["inactive", "missing"])
def test_a_chat_needs_an_active_agent(owner_api, agent_state):
    agent = AgentFactory(name="Retired", is_active=False)
    agent_id = agent.pk if agent_state == "inactive" else 999_999

    response = owner_api.post(LIST_URL, {"title": "Churn", "agent": agent_id}, format="json")

    assert response.status_code == 400
    assert response.json()["agent"] == [f"No active agent has id {agent_id}."]
    assert not Chat.objects.exists()


def test_a_chat_needs_a_title(owner_api):
    agent = AgentFactory()

    response = owner_api.post(LIST_URL, {"agent": agent.pk}, format="json")

    assert response.status_code == 400
    assert "title" in response.json()


def test_owner_cannot_set_the_owner_of_a_new_chat(owner_api, owner, other_user):
    agent = AgentFactory()

    response = owner_api.post(
        LIST_URL, {"title": "Mine", "agent": agent.pk, "owner": other_user.pk}, format="json"
    )

    assert response.status_code == 201
    assert Chat.objects.get().owner == owner


def test_owner_renames_their_chat_and_keeps_its_counts(owner_api, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat)

    response = owner_api.patch(detail_url(chat), {"title": "Renamed"}, format="json")

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert response.json()["message_count"] == 1


def test_deleting_a_chat_keeps_its_artifacts(owner_api, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat)
    artifact = ArtifactFactory(owner=owner, chat=chat)

    response = owner_api.delete(detail_url(chat))

    assert response.status_code == 204
    assert not Chat.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.exists()
    artifact.refresh_from_db()
    assert artifact.chat is None


# --- messages ----------------------------------------------------------------------------------


def test_messages_are_listed_oldest_first_with_their_artifact(owner_api, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(owner=owner, chat=chat, title="Top categories")
    MessageFactory(chat=chat, content="Top categories last month?")
    MessageFactory(
        chat=chat,
        role="assistant",
        content="Here they are.",
        artifact=artifact,
        artifact_action="created",
    )

    response = owner_api.get(messages_url(chat))

    assert response.status_code == 200
    question, answer = response.json()["results"]
    assert (question["role"], question["content"]) == ("user", "Top categories last month?")
    assert question["artifact"] is None
    assert question["artifact_action"] is None
    assert (answer["role"], answer["artifact_action"]) == ("assistant", "created")
    summary = answer["artifact"]
    assert summary["id"] == artifact.pk
    assert summary["title"] == "Top categories"
    assert summary["artifact_type"] == "sql_query"
    assert summary["status"] == "active"
    assert summary["url"].endswith(reverse("api:artifact-detail", args=[artifact.pk]))
    assert set(summary) == {"id", "title", "artifact_type", "status", "url"}


def test_messages_are_paginated(owner_api, owner):
    chat = ChatFactory(owner=owner)
    for n in range(5):
        MessageFactory(chat=chat, content=f"Question {n}")

    first = owner_api.get(messages_url(chat), {"page_size": 2}).json()
    last = owner_api.get(messages_url(chat), {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert [m["content"] for m in first["results"]] == ["Question 0", "Question 1"]
    assert first["next"] is not None
    assert [m["content"] for m in last["results"]] == ["Question 4"]


def test_owner_posts_a_user_message(owner_api, owner):
    chat = ChatFactory(owner=owner)

    response = owner_api.post(
        messages_url(chat), {"content": "How many orders were returned?"}, format="json"
    )

    # The turn runs too (tests/llm_chat/test_api_turn.py); the question comes first.
    assert response.status_code == 201, response.json()
    body, reply = response.json()
    assert body["role"] == "user"
    assert body["status"] == "complete"
    assert body["content"] == "How many orders were returned?"
    assert body["chat"] == chat.pk
    assert body["artifact"] is None and body["artifacts"] == []
    assert (reply["role"], reply["reply_to"]) == ("assistant", body["id"])
    message = Message.objects.get(pk=body["id"])
    assert (message.chat, message.role, message.content) == (
        chat,
        "user",
        "How many orders were returned?",
    )


def test_clients_write_only_the_content_of_a_message(owner_api, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(owner=owner)

    response = owner_api.post(
        messages_url(chat),
        {
            "content": "Hello",
            "role": "assistant",
            "status": "error",
            "artifact": artifact.pk,
            "artifact_action": "created",
        },
        format="json",
    )

    assert response.status_code == 201
    message = Message.objects.get(role="user")
    assert (message.role, message.status, message.artifact) == ("user", "complete", None)
    assert message.content == "Hello"


@pytest.mark.parametrize("payload", [{"content": ""}, {"content": "   \n"}, {}])
def test_an_empty_message_is_a_400_on_content(owner_api, owner, payload):
    chat = ChatFactory(owner=owner)

    response = owner_api.post(messages_url(chat), payload, format="json")

    assert response.status_code == 400
    assert "content" in response.json()
    assert not Message.objects.exists()


def test_other_user_gets_404_for_messages_and_posts_nothing(other_api, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat, content="Private question")

    listing = other_api.get(messages_url(chat))
    posted = other_api.post(messages_url(chat), {"content": "Hi"}, format="json")

    assert listing.status_code == 404
    assert "Private question" not in listing.content.decode()
    assert posted.status_code == 404
    assert Message.objects.count() == 1


def test_staff_reads_anyones_messages_but_posts_only_in_their_own_chats(staff_api, staff, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat, content="Owner's question")
    staff_chat = ChatFactory(owner=staff)

    listing = staff_api.get(messages_url(chat))
    in_theirs = staff_api.post(messages_url(chat), {"content": "Hi"}, format="json")
    in_own = staff_api.post(messages_url(staff_chat), {"content": "Hi"}, format="json")

    assert [m["content"] for m in listing.json()["results"]] == ["Owner's question"]
    assert in_theirs.status_code == 403
    assert in_own.status_code == 201
    assert chat.messages.count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_refused_messages(api_client, owner, method):
    chat = ChatFactory(owner=owner)

    response = getattr(api_client, method)(messages_url(chat), {"content": "Hi"}, format="json")

    assert response.status_code == 401
    assert not Message.objects.exists()


def test_unknown_chat_messages_are_a_404(owner_api):
    assert owner_api.get(reverse("api:chat-messages", args=[999_999])).status_code == 404
    assert owner_api.get(reverse("api:chat-messages", args=["abc"])).status_code == 404
    assert owner_api.post(reverse("api:chat-messages", args=["abc"]), {}).status_code == 404


def test_browsable_api_shows_the_message_form(owner_client, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat, content="What sells best?")

    response = owner_client.get(messages_url(chat), HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    page = response.content.decode()
    assert "What sells best?" in page
    assert 'name="content"' in page


def test_session_client_posts_a_message_with_csrf(client, owner):
    chat = ChatFactory(owner=owner)
    client.force_login(owner)
    client.handler.enforce_csrf_checks = True
    token = get_token(RequestFactory().get("/"))
    client.cookies["csrftoken"] = token

    refused = client.post(messages_url(chat), {"content": "Hi"}, content_type="application/json")
    accepted = client.post(
        messages_url(chat),
        {"content": "Hi"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )

    assert refused.status_code == 403
    assert accepted.status_code == 201
    assert chat.messages.filter(role="user").count() == 1


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [5, 55])
def test_chat_list_runs_a_fixed_number_of_queries(
    owner_api, owner, rows, django_assert_max_num_queries
):
    for chat in ChatFactory.create_batch(rows, owner=owner):
        MessageFactory(chat=chat)
        ArtifactFactory(owner=owner, chat=chat)

    # A COUNT for the pager, one SELECT with the agent, the owner and both counts, and the
    # shares of the page's chats.
    with django_assert_max_num_queries(3):
        response = owner_api.get(LIST_URL, {"page_size": 100})

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [5, 55])
def test_message_list_runs_a_fixed_number_of_queries(
    owner_api, owner, rows, django_assert_max_num_queries
):
    chat = ChatFactory(owner=owner)
    for n in range(rows):
        artifact = ArtifactFactory(owner=owner, chat=chat)
        message = MessageFactory(chat=chat, role="assistant", content=f"Answer {n}")
        message.link_artifact(artifact, "created")
        MessageFactory(chat=chat, content=f"Question {n}")

    # The chat, a COUNT for the pager, the messages joined to their main artifacts, and all
    # their artifact links with the artifacts, and which of those artifacts the reader may
    # see (one query: a shared chat shows the others' cards only as there).
    with django_assert_max_num_queries(5):
        response = owner_api.get(messages_url(chat), {"page_size": 200})

    results = response.json()["results"]
    assert len(results) == 2 * rows
    assert all(m["artifact"] for m in results if m["role"] == "assistant")
    assert all(len(m["artifacts"]) == 1 for m in results if m["role"] == "assistant")
