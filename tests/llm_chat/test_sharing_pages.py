"""Chats shared read-only, person by person (tests/conftest.py's sharing personas).

A chat shared with a group (or everyone) reads like its owner's page without the composer,
rename, delete, stop or retry; each artifact card shows only if the reader may see that
artifact, else a placeholder says one is there. Its stream endpoints stay the owner's.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import SharingChange
from apps.llm_chat.models import Chat, Message
from tests.conftest import share
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("llm_chat:chat_list")


@pytest.fixture
def chat(owner, team) -> Chat:
    """Shared with `team`: a question and a reply with two cards, one of an artifact
    shared with `team` too, one of a private artifact."""
    chat = share(ChatFactory(owner=owner, title="How revenue was counted"), team)
    question = MessageFactory(chat=chat, content="Revenue per month?")
    shown = share(ArtifactFactory(owner=owner, chat=chat, title="Shared revenue"), team)
    private = ArtifactFactory(owner=owner, chat=chat, title="Private margins")
    for artifact in (shown, private):
        MessageFactory(
            chat=chat,
            role=Message.Role.ASSISTANT,
            content="Saved.",
            reply_to=question if artifact is shown else None,
            artifact=artifact,
            artifact_action=Message.ArtifactAction.CREATED,
        )
    return chat


def url(name: str, chat: Chat, *args) -> str:
    return reverse(f"llm_chat:{name}", args=[chat.pk, *args])


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("owner", 200),
        ("group_viewer", 200),
        ("group_editor", 200),
        ("outsider", 404),
        ("staff", 200),
    ],
)
def test_who_may_read_a_shared_chat(client, chat, persona, status, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("chat_detail", chat)).status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(client, chat):
    for name in ("chat_detail", "chat_share"):
        response = client.get(url(name, chat))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_reader_gets_the_chat_read_only(client, chat, group_viewer):
    client.force_login(group_viewer)
    page = client.get(url("chat_detail", chat)).content.decode()
    assert 'id="composer-readonly"' in page and 'id="composer"' not in page
    for name in ("chat_rename", "chat_delete", "chat_share", "message_create"):
        assert url(name, chat) not in page
    assert "shared-badge" in page


def test_a_reader_sees_only_the_cards_of_artifacts_shared_with_them(client, chat, group_viewer):
    client.force_login(group_viewer)
    page = client.get(url("chat_detail", chat)).content.decode()
    assert "Shared revenue" in page
    assert "Private margins" not in page
    assert page.count("artifact-card-hidden") == 1
    assert "An artifact is here, but it is not shared with you." in page


def test_a_reader_without_the_data_source_sees_placeholders(client, chat, no_source_access):
    client.force_login(no_source_access)
    page = client.get(url("chat_detail", chat)).content.decode()
    assert page.count("artifact-card-hidden") == 2
    assert "Shared revenue" not in page


def test_the_owner_sees_every_card(client, chat, owner):
    client.force_login(owner)
    page = client.get(url("chat_detail", chat)).content.decode()
    assert "Shared revenue" in page and "Private margins" in page
    assert "artifact-card-hidden" not in page
    assert url("chat_share", chat) in page


def test_a_reader_cannot_write_and_nothing_changes(client, chat, group_viewer):
    client.force_login(group_viewer)
    question = chat.messages.filter(role=Message.Role.USER).get()
    reply = chat.messages.filter(reply_to=question).get()
    assert client.post(url("message_create", chat), {"content": "Hi"}).status_code == 403
    assert client.post(url("chat_rename", chat), {"title": "Mine"}).status_code == 403
    assert client.get(url("chat_delete", chat)).status_code == 403
    assert client.post(url("chat_delete", chat)).status_code == 403
    assert client.post(url("message_reply", chat, question.pk)).status_code == 403
    assert client.post(url("message_stop", chat, reply.pk)).status_code == 403
    assert client.get(url("message_stream", chat, question.pk)).status_code == 403
    assert chat.messages.count() == 3
    assert Chat.objects.get(pk=chat.pk).title == "How revenue was counted"


def test_an_outsider_gets_404_on_the_streams(client, chat, outsider):
    client.force_login(outsider)
    question = chat.messages.filter(role=Message.Role.USER).get()
    assert client.get(url("message_stream", chat, question.pk)).status_code == 404
    assert client.post(url("message_reply", chat, question.pk)).status_code == 404


# --- The Share dialog ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), ("staff", 200), ("group_viewer", 403), ("outsider", 404)],
)
def test_who_may_open_the_chats_share_dialog(client, chat, persona, status, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("chat_share", chat)).status_code == status


def test_a_chat_is_shared_read_only(client, owner, team, other_team, outsider):
    chat = ChatFactory(owner=owner)
    client.force_login(owner)
    page = client.get(url("chat_share", chat)).content.decode()
    assert "May edit" not in page  # a checkbox a group, no view/edit
    response = client.post(
        url("chat_share", chat), {"visibility": "groups", f"group_{other_team.pk}": "on"}
    )
    assert response.status_code == 302 and response["Location"] == url("chat_detail", chat)
    assert list(chat.shares.values_list("group__name", flat=True)) == ["support"]
    assert "support: view" in SharingChange.objects.get().change
    client.force_login(outsider)
    assert client.get(url("chat_detail", chat)).status_code == 200


def test_the_owner_hands_a_chat_to_someone_else(client, owner, group_viewer):
    chat = ChatFactory(owner=owner)
    client.force_login(owner)
    response = client.post(
        url("chat_share", chat), {"visibility": "private", "new_owner": "viewer"}
    )
    assert response.status_code == 302 and response["Location"] == LIST_URL
    assert Chat.objects.get(pk=chat.pk).owner == group_viewer


def test_a_reader_may_not_post_sharing(client, chat, group_viewer):
    client.force_login(group_viewer)
    response = client.post(url("chat_share", chat), {"visibility": "everyone"})
    assert response.status_code == 403
    assert "Only the chat&#x27;s owner" in response.content.decode()
    assert Chat.objects.get(pk=chat.pk).visibility == "groups"


# --- The list --------------------------------------------------------------------------------


def titles(response) -> list[str]:
    return [chat.title for chat in response.context["page_obj"]]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("", ["How revenue was counted", "Viewer's chat"]),
        ("mine", ["Viewer's chat"]),
        ("shared", ["How revenue was counted"]),
        ("everyone", []),
        ("all", ["How revenue was counted", "Viewer's chat"]),  # staff only: ignored
    ],
)
def test_the_readers_chat_scopes(client, chat, owner, group_viewer, scope, expected):
    ChatFactory(owner=group_viewer, title="Viewer's chat")
    ChatFactory(owner=owner, title="Owner's private chat")
    client.force_login(group_viewer)
    assert sorted(titles(client.get(f"{LIST_URL}?scope={scope}"))) == expected


def test_shared_chats_carry_a_badge_and_their_owner(client, chat, group_viewer):
    client.force_login(group_viewer)
    page = client.get(f"{LIST_URL}?scope=shared").content.decode()
    assert page.count("shared-badge") == 1
    assert 'class="ms-2 chat-owner"' in page


def test_the_chat_search_keeps_the_scope(client, chat, group_viewer):
    client.force_login(group_viewer)
    page = client.get(f"{LIST_URL}?scope=shared&q=revenue").content.decode()
    assert '<input type="hidden" name="scope" value="shared">' in page
    assert "?scope=mine&amp;q=revenue" in page or "?q=revenue&amp;scope=mine" in page


def test_a_search_never_counts_hidden_chats(client, chat, outsider):
    client.force_login(outsider)
    response = client.get(f"{LIST_URL}?q=revenue")
    assert titles(response) == [] and response.context["page_obj"].paginator.count == 0
