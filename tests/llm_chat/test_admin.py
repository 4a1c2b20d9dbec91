"""The chat and message admin: counts, read-only inlines, links, filters and query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Chat, Message
from tests.conftest import UserFactory
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

CHATS = reverse("admin:llm_chat_chat_changelist")
MESSAGES = reverse("admin:llm_chat_message_changelist")


def chat_url(chat: Chat) -> str:
    return reverse("admin:llm_chat_chat_change", args=[chat.pk])


def message_url(message: Message) -> str:
    return reverse("admin:llm_chat_message_change", args=[message.pk])


def listed(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def linked_message(
    chat: Chat, artifact, action=Message.ArtifactAction.CREATED, **kwargs
) -> Message:
    return MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=action,
        **kwargs,
    )


# Chats


def test_chat_changelist_shows_owner_agent_and_counts(staff_client, owner):
    agent = AgentFactory(name="Analyst")
    chat = ChatFactory(title="Cancelled orders", owner=owner, agent=agent)
    MessageFactory.create_batch(3, chat=chat)
    ArtifactFactory.create_batch(2, chat=chat, owner=owner)

    response = staff_client.get(CHATS)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Cancelled orders" in html
    assert "Analyst" in html
    assert "owner" in html
    messages_link = f'<a href="{MESSAGES}?chat__id__exact={chat.pk}">3</a>'
    artifacts_url = reverse("admin:llm_artifact_artifact_changelist")
    assert messages_link in html
    assert f'<a href="{artifacts_url}?chat__id__exact={chat.pk}">2</a>' in html


def test_chat_count_links_lead_to_that_chats_messages(staff_client, owner):
    chat = ChatFactory(owner=owner)
    mine = MessageFactory(chat=chat)
    MessageFactory(chat=ChatFactory(owner=owner, agent=chat.agent))

    response = staff_client.get(MESSAGES, {"chat__id__exact": chat.pk})

    assert response.status_code == 200
    assert listed(response) == {mine.pk}


def test_chat_change_page_lists_messages_and_artifacts_read_only(staff_client, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(title="Orders per status", chat=chat, owner=owner)
    question = MessageFactory(chat=chat, content="Which statuses do orders have?")
    answer = linked_message(chat, artifact, content="Here is a query.", input_tokens=12)

    response = staff_client.get(chat_url(chat))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Which statuses do orders have?" in html
    # Each inline row links to the object's own change page.
    assert message_url(question) in html
    assert message_url(answer) in html
    assert reverse("admin:llm_artifact_artifact_change", args=[artifact.pk]) in html
    assert "Created" in html
    assert "Orders per status" in html
    # Read-only: no editable inline inputs, no empty row to add from, no delete boxes.
    assert 'name="messages-0-content"' not in html
    assert 'name="artifacts-0-title"' not in html
    assert 'id="messages-empty"' not in html
    assert 'id="artifacts-empty"' not in html
    assert 'name="messages-0-DELETE"' not in html
    assert 'name="artifacts-0-DELETE"' not in html


def test_inline_shows_empty_markers_rather_than_none(staff_client, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat)

    html = staff_client.get(chat_url(chat)).content.decode()

    assert "None" not in html


@pytest.mark.parametrize("model", ["chat", "message"])
def test_add_pages_load(staff_client, model):
    assert staff_client.get(reverse(f"admin:llm_chat_{model}_add")).status_code == 200


def test_inline_message_content_is_escaped(staff_client, owner):
    chat = ChatFactory(owner=owner)
    MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="<script>alert(1)</script>")

    for url in (chat_url(chat), MESSAGES):
        html = staff_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_saving_a_chat_leaves_its_messages_and_artifacts_alone(staff_client, owner):
    chat = ChatFactory(title="Old title", owner=owner)
    message = MessageFactory(chat=chat, content="Keep me")
    artifact = ArtifactFactory(chat=chat, owner=owner)

    response = staff_client.post(
        chat_url(chat),
        {
            "title": "New title",
            "owner": owner.pk,
            "agent": chat.agent_id,
            "visibility": "private",
            "shares-TOTAL_FORMS": "0",
            "shares-INITIAL_FORMS": "0",
            "messages-TOTAL_FORMS": "1",
            "messages-INITIAL_FORMS": "1",
            "messages-0-id": message.pk,
            "messages-0-chat": chat.pk,
            "artifacts-TOTAL_FORMS": "1",
            "artifacts-INITIAL_FORMS": "1",
            "artifacts-0-id": artifact.pk,
            "artifacts-0-chat": chat.pk,
        },
    )

    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.title == "New title"
    assert Message.objects.get(pk=message.pk).content == "Keep me"
    assert Artifact.objects.get(pk=artifact.pk).chat_id == chat.pk


def test_chat_search_by_title_and_owner_username(staff_client):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    agent = AgentFactory()
    revenue = ChatFactory(title="Revenue by month", owner=alice, agent=agent)
    returns = ChatFactory(title="Returned orders", owner=bob, agent=agent)

    assert listed(staff_client.get(CHATS, {"q": "revenue"})) == {revenue.pk}
    assert listed(staff_client.get(CHATS, {"q": "bob"})) == {returns.pk}


def test_chat_filter_by_agent(staff_client, owner):
    analyst = AgentFactory(name="Analyst")
    helper = AgentFactory(name="Helper")
    mine = ChatFactory(agent=analyst, owner=owner)
    ChatFactory(agent=helper, owner=owner)

    assert listed(staff_client.get(CHATS, {"agent__id__exact": analyst.pk})) == {mine.pk}


def test_chat_date_hierarchy_drills_down_by_year(staff_client, owner):
    agent = AgentFactory()
    recent = ChatFactory(owner=owner, agent=agent)
    old = ChatFactory(owner=owner, agent=agent)
    last_year = timezone.now() - timedelta(days=400)
    Chat.objects.filter(pk=old.pk).update(created_at=last_year)

    response = staff_client.get(CHATS, {"created_at__year": timezone.now().year})

    assert listed(response) == {recent.pk}
    assert listed(staff_client.get(CHATS, {"created_at__year": last_year.year})) == {old.pk}


@pytest.mark.parametrize("page", ["chats", "chat", "messages", "message"])
def test_non_staff_is_sent_to_admin_login(client, owner, page):
    message = MessageFactory(chat=ChatFactory(owner=owner))
    urls = {
        "chats": CHATS,
        "chat": chat_url(message.chat),
        "messages": MESSAGES,
        "message": message_url(message),
    }
    client.force_login(owner)

    response = client.get(urls[page])

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# Messages


def test_message_changelist_and_change_page_load(staff_client, owner):
    chat = ChatFactory(title="Top sellers", owner=owner)
    artifact = ArtifactFactory(title="Sellers ranked", chat=chat, owner=owner)
    message = linked_message(
        chat,
        artifact,
        action=Message.ArtifactAction.UPDATED,
        content="I changed the ranking.",
        input_tokens=120,
        output_tokens=45,
    )

    response = staff_client.get(MESSAGES)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<a href="{chat_url(chat)}">Top sellers</a>' in html
    artifact_url = reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])
    assert f'Updated <a href="{artifact_url}">Sellers ranked</a>' in html
    assert "120 in / 45 out" in html
    assert "I changed the ranking." in html

    response = staff_client.get(message_url(message))
    assert response.status_code == 200
    assert "I changed the ranking." in response.content.decode()


def test_message_filters_on_role_status_and_artifact_action(staff_client, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(chat=chat, owner=owner)
    question = MessageFactory(chat=chat, role=Message.Role.USER)
    failed = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, status=Message.Status.ERROR)
    referenced = linked_message(chat, artifact, action=Message.ArtifactAction.REFERENCED)

    assert listed(staff_client.get(MESSAGES, {"role__exact": "user"})) == {question.pk}
    assert listed(staff_client.get(MESSAGES, {"status__exact": "error"})) == {failed.pk}
    response = staff_client.get(MESSAGES, {"artifact_action__exact": "referenced"})
    assert listed(response) == {referenced.pk}
    assert listed(staff_client.get(MESSAGES, {"artifact__id__exact": artifact.pk})) == {
        referenced.pk
    }


def test_message_search_on_content(staff_client, owner):
    chat = ChatFactory(owner=owner)
    hit = MessageFactory(chat=chat, content="Which sellers have the best ratings?")
    MessageFactory(chat=chat, content="How many orders were returned?")

    assert listed(staff_client.get(MESSAGES, {"q": "ratings"})) == {hit.pk}


def test_message_change_form_enforces_artifact_action_rule(staff_client, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(chat=chat, owner=owner)
    message = MessageFactory(chat=chat, content="Hello")

    response = staff_client.post(
        message_url(message),
        {
            "chat": chat.pk,
            "role": "assistant",
            "status": "complete",
            "content": "Hello",
            "error": "",
            "artifact": artifact.pk,
            "artifact_action": "",
            "input_tokens": "",
            "output_tokens": "",
            "model_messages": "[]",
        },
    )

    assert response.status_code == 200
    assert "Say what the message did with the artifact." in response.content.decode()
    message.refresh_from_db()
    assert message.artifact_id is None


def test_message_change_form_refuses_a_too_long_user_message_like_the_page(staff_client, owner):
    chat = ChatFactory(owner=owner)
    message = MessageFactory(chat=chat, role="user", content="Hello")
    form = {
        "chat": chat.pk,
        "role": "user",
        "status": "complete",
        "error": "",
        "artifact": "",
        "artifact_action": "",
        "input_tokens": "",
        "output_tokens": "",
        "model_messages": "[]",
    }

    response = staff_client.post(message_url(message), {**form, "content": "x" * 10_001})

    assert response.status_code == 200
    assert "at most 10000 characters (it has 10001)" in response.content.decode()
    message.refresh_from_db()
    assert message.content == "Hello"


# Query counts


def test_chat_changelist_query_count_does_not_grow_with_rows(staff_client, assert_get_queries):
    owners = UserFactory.create_batch(3)
    agents = AgentFactory.create_batch(3)

    def make_chats(count: int) -> None:
        for i in range(count):
            chat = ChatFactory(owner=owners[i % 3], agent=agents[i % 3])
            MessageFactory(chat=chat)
            ArtifactFactory(chat=chat, owner=chat.owner)

    make_chats(5)
    assert_get_queries(staff_client, CHATS, most=8)
    make_chats(45)
    assert_get_queries(staff_client, CHATS, most=8)


def test_message_changelist_query_count_does_not_grow_with_rows(
    staff_client, owner, assert_get_queries
):
    chats = ChatFactory.create_batch(3, owner=owner, agent=AgentFactory())

    def make_messages(count: int) -> None:
        for i in range(count):
            chat = chats[i % 3]
            linked_message(chat, ArtifactFactory(chat=chat, owner=owner), output_tokens=5)

    make_messages(5)
    assert_get_queries(staff_client, MESSAGES, most=8)
    make_messages(45)
    assert_get_queries(staff_client, MESSAGES, most=8)


def test_chat_change_page_query_count_does_not_grow_with_messages(
    staff_client, owner, assert_get_queries
):
    chat = ChatFactory(owner=owner)

    def add_turns(count: int) -> None:
        for _ in range(count):
            MessageFactory(chat=chat)
            linked_message(chat, ArtifactFactory(chat=chat, owner=owner))

    # One more than before sharing: the shares inline's rows.
    add_turns(3)
    assert_get_queries(staff_client, chat_url(chat), most=8)
    add_turns(30)
    assert_get_queries(staff_client, chat_url(chat), most=8)
