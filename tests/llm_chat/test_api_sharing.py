"""Sharing over the chats API: chats are shared read-only; every endpoint as each persona,
the artifacts a shared chat links shown only to those who may see them, scopes, transfers."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import SharingChange
from apps.accounts.sharing import Visibility, change_sharing
from apps.llm_chat.models import Chat, Message
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db


def api_as(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def url(name: str, chat: Chat) -> str:
    return reverse(f"api:chat-{name}", args=[chat.pk])


@pytest.fixture
def shared_chat(owner, analysts):
    chat = ChatFactory(owner=owner, title="Shared chat")
    question = MessageFactory(chat=chat, content="How many orders?")
    MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Ten.", reply_to=question)
    change_sharing(chat, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    return chat


@pytest.fixture
def personas(owner, group_viewer, group_editor, outsider, no_source_access, staff):
    return {
        "owner": owner,
        "group_viewer": group_viewer,
        "group_editor": group_editor,
        "outsider": outsider,
        "no_source_access": no_source_access,
        "staff": staff,
        "anonymous": None,
    }


def request(client: APIClient, endpoint: str, chat: Chat):
    if endpoint == "retrieve":
        return client.get(url("detail", chat))
    if endpoint == "messages":
        return client.get(url("messages", chat))
    if endpoint == "post_message":
        # An empty question: a 400 once allowed, so no agent turn runs.
        return client.post(url("messages", chat), {"content": ""}, format="json")
    if endpoint == "rename":
        return client.patch(url("detail", chat), {"title": "Renamed"}, format="json")
    if endpoint == "share":
        return client.patch(url("detail", chat), {"visibility": "everyone"}, format="json")
    if endpoint == "transfer":
        return client.post(url("transfer", chat), {"owner": "staff"}, format="json")
    if endpoint == "delete":
        return client.delete(url("detail", chat))
    raise AssertionError(endpoint)  # pragma: no cover - a typo in the table below


ENDPOINTS = ["retrieve", "messages", "post_message", "rename", "share", "transfer", "delete"]
READER = {"retrieve": 200, "messages": 200, **dict.fromkeys(ENDPOINTS[2:], 403)}
EXPECTED = {
    "owner": {
        "retrieve": 200,
        "messages": 200,
        "post_message": 400,
        "rename": 200,
        "share": 200,
        "transfer": 200,
        "delete": 204,
    },
    # Staff read any chat and hand it over, but do not write in it or delete it (a PATCH is a
    # write, sharing included; as on the pages, staff delete and share chats in the admin).
    "staff": {**READER, "transfer": 200},
    # Members of "analysts", whatever their artifact shares and data-source grants.
    "group_viewer": READER,
    "group_editor": READER,
    "no_source_access": READER,
    "outsider": dict.fromkeys(ENDPOINTS, 404),
    "anonymous": dict.fromkeys(ENDPOINTS, 401),
}


@pytest.mark.parametrize("persona", list(EXPECTED))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_persona_gets_what_sharing_allows(persona, endpoint, shared_chat, personas):
    expected = EXPECTED[persona][endpoint]

    response = request(api_as(personas[persona]), endpoint, shared_chat)

    assert response.status_code == expected, response.content[:300]
    after = Chat.objects.filter(pk=shared_chat.pk).first()
    if expected >= 400:
        assert after is not None
        assert (after.title, after.visibility, after.owner_id) == (
            "Shared chat",
            "groups",
            shared_chat.owner_id,
        )
        assert after.messages.count() == 2
        if expected != 403:
            assert "Shared chat" not in response.content.decode()


def test_a_chat_shows_its_sharing_and_what_you_may_do(shared_chat, analysts, group_viewer):
    body = api_as(group_viewer).get(url("detail", shared_chat)).json()

    assert body["owner"] == "owner"
    assert body["visibility"] == "groups"
    assert body["shares"] == [{"group": analysts.pk, "group_name": "analysts", "access": "view"}]
    assert (body["can_edit"], body["can_manage"]) == (False, False)


def test_a_chat_cannot_be_shared_for_editing(owner, analysts):
    owner.groups.add(analysts)
    chat = ChatFactory(owner=owner)

    response = api_as(owner).patch(
        url("detail", chat), {"shares": [{"group": analysts.pk, "access": "edit"}]}, format="json"
    )

    assert response.status_code == 400
    assert '"edit" is not a valid choice.' in str(response.json()["shares"])
    assert not chat.shares.exists()


def test_the_owner_shares_a_chat_and_the_history_records_it(owner, analysts, group_viewer):
    owner.groups.add(analysts)
    chat = ChatFactory(owner=owner, title="To show")

    response = api_as(owner).patch(
        url("detail", chat),
        {"visibility": "groups", "shares": [{"group": analysts.pk}]},
        format="json",
    )

    assert response.status_code == 200
    assert api_as(group_viewer).get(url("detail", chat)).status_code == 200
    change = SharingChange.objects.get(subject_type="llm_chat.chat", subject_id=chat.pk)
    assert (change.actor, change.change) == (owner, "visibility: private → groups; analysts: view")


def test_a_shared_chat_shows_only_the_artifacts_the_reader_may_see(
    shop, owner, analysts, group_viewer
):
    chat = ChatFactory(owner=owner, title="Answers")
    visible = ArtifactFactory(owner=owner, chat=chat, title="For analysts too")
    change_sharing(visible, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    hidden = ArtifactFactory(owner=owner, chat=chat, title="Owner only zq9")
    first = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="One.")
    first.link_artifact(visible, "created")
    second = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Two.")
    second.link_artifact(hidden, "created", params={"status": "secret-value"})
    change_sharing(chat, actor=owner, visibility=Visibility.EVERYONE)

    as_viewer = api_as(group_viewer).get(url("messages", chat))
    as_owner = api_as(owner).get(url("messages", chat))

    assert as_viewer.status_code == 200
    shown, not_shown = as_viewer.json()["results"]
    assert shown["artifact"]["title"] == "For analysts too"
    assert not_shown["artifact"] is None
    assert not_shown["artifact_action"] == "created"
    assert not_shown["artifacts"] == [{"action": "created", "artifact": None, "params": {}}]
    assert "Owner only zq9" not in as_viewer.content.decode()
    assert "secret-value" not in as_viewer.content.decode()
    assert as_owner.json()["results"][1]["artifact"]["title"] == "Owner only zq9"


# --- lists -----------------------------------------------------------------------------------


@pytest.fixture
def chats(owner, group_viewer, other_user, analysts):
    ChatFactory(owner=group_viewer, title="Viewer's own")
    ChatFactory(owner=owner, title="Owner private")
    shared = ChatFactory(owner=owner, title="Owner to analysts")
    change_sharing(shared, actor=owner, visibility=Visibility.GROUPS, shares={analysts: False})
    ChatFactory(owner=other_user, title="Other's for everyone", visibility="everyone")


def titles(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["title"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"Viewer's own", "Owner to analysts", "Other's for everyone"}),
        ({"scope": "mine"}, {"Viewer's own"}),
        ({"scope": "shared"}, {"Owner to analysts", "Other's for everyone"}),
        ({"scope": "everyone"}, {"Other's for everyone"}),
        ({"owner": "owner"}, {"Owner to analysts"}),
    ],
)
def test_a_reader_lists_chats_by_scope_and_owner(chats, group_viewer, query, expected):
    assert titles(api_as(group_viewer).get(reverse("api:chat-list"), query)) == expected


def test_scope_all_is_staffs(chats, group_viewer, staff):
    refused = api_as(group_viewer).get(reverse("api:chat-list"), {"scope": "all"})

    assert refused.status_code == 400
    assert refused.json() == {"scope": ["Only staff may list every row (scope=all)."]}
    assert len(titles(api_as(staff).get(reverse("api:chat-list"), {"scope": "all"}))) == 4


# --- ownership -------------------------------------------------------------------------------


def test_the_owner_hands_a_chat_over(owner, group_viewer):
    chat = ChatFactory(owner=owner)

    response = api_as(owner).post(url("transfer", chat), {"owner": "group_viewer"}, format="json")

    assert response.status_code == 200
    assert response.json()["owner"] == "group_viewer"
    chat.refresh_from_db()
    assert chat.owner == group_viewer
    assert SharingChange.objects.get(subject_id=chat.pk).change == "owner: owner → group_viewer"


def test_a_chat_cannot_go_to_someone_who_may_not_use_its_agent(owner, outsider, analysts):
    agent = AgentFactory()
    agent.groups.add(analysts)
    chat = ChatFactory(owner=owner, agent=agent)

    response = api_as(owner).post(url("transfer", chat), {"owner": "outsider"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"owner": [f"outsider may not use the agent {agent}."]}
    chat.refresh_from_db()
    assert chat.owner == owner


def test_a_chat_cannot_be_started_with_an_agent_limited_to_other_groups(
    outsider, group_viewer, analysts
):
    agent = AgentFactory()
    agent.groups.add(analysts)
    payload = {"title": "Hello", "agent": agent.pk}

    refused = api_as(outsider).post(reverse("api:chat-list"), payload, format="json")
    allowed = api_as(group_viewer).post(reverse("api:chat-list"), payload, format="json")

    assert refused.status_code == 400
    assert refused.json() == {"agent": [f"No active agent has id {agent.pk}."]}
    assert allowed.status_code == 201
    assert list(Chat.objects.values_list("owner__username", flat=True)) == ["group_viewer"]
