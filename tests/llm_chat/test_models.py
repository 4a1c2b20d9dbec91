from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Chat, Message
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_message_with_artifact_needs_an_action(owner):
    artifact = ArtifactFactory(owner=owner)
    message = MessageFactory.build(chat=ChatFactory(owner=owner), artifact=artifact)
    with pytest.raises(ValidationError) as exc_info:
        message.full_clean()
    assert "artifact_action" in exc_info.value.message_dict


def test_message_action_needs_an_artifact(owner):
    message = MessageFactory.build(chat=ChatFactory(owner=owner), artifact_action="created")
    with pytest.raises(ValidationError) as exc_info:
        message.full_clean()
    assert "artifact" in exc_info.value.message_dict


def test_database_refuses_an_artifact_link_without_action(owner):
    artifact = ArtifactFactory(owner=owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(chat=ChatFactory(owner=owner), artifact=artifact)


def test_rejects_unknown_role_and_status(owner):
    message = MessageFactory.build(chat=ChatFactory(owner=owner), role="robot", status="lost")
    with pytest.raises(ValidationError) as exc_info:
        message.full_clean()
    assert {"role", "status"} <= set(exc_info.value.message_dict)


def test_deleting_an_artifact_keeps_the_message_and_clears_link_and_action(owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(owner=owner, chat=chat)
    message = MessageFactory(
        chat=chat, role=Message.Role.ASSISTANT, artifact=artifact, artifact_action="created"
    )
    artifact.delete()
    message.refresh_from_db()
    assert message.artifact is None
    assert message.artifact_action is None
    assert message.content


def test_deleting_a_chat_keeps_its_artifacts(owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(owner=owner, chat=chat)
    MessageFactory(chat=chat)
    chat.delete()
    artifact.refresh_from_db()
    assert artifact.chat is None
    assert Message.objects.count() == 0


def test_an_agent_with_chats_cannot_be_deleted(owner):
    chat = ChatFactory(owner=owner)
    with pytest.raises(ProtectedError):
        chat.agent.delete()


def test_with_counts_counts_messages_and_artifacts_without_multiplying(owner):
    chat = ChatFactory(owner=owner)
    MessageFactory.create_batch(3, chat=chat)
    ArtifactFactory.create_batch(2, owner=owner, chat=chat)
    empty = ChatFactory(owner=owner)
    counted = {c.pk: c for c in Chat.objects.with_counts()}
    assert (counted[chat.pk].message_count, counted[chat.pk].artifact_count) == (3, 2)
    assert (counted[empty.pk].message_count, counted[empty.pk].artifact_count) == (0, 0)


def test_visible_to_scopes_chats(owner, other_user, staff):
    mine = ChatFactory(owner=owner)
    theirs = ChatFactory(owner=other_user)
    assert list(Chat.objects.visible_to(owner)) == [mine]
    assert set(Chat.objects.visible_to(staff)) == {mine, theirs}
    assert Artifact.objects.visible_to(other_user).count() == 0


def test_only_the_owner_can_post_though_staff_can_read(owner, other_user, staff):
    chat = ChatFactory(owner=owner)
    assert [chat.can_post(u) for u in (owner, other_user, staff)] == [True, False, False]
    assert [chat.is_visible_to(u) for u in (owner, other_user, staff)] == [True, False, True]
    assert not chat.can_post(AnonymousUser()) and not chat.is_visible_to(AnonymousUser())


def test_a_user_message_is_limited_but_a_reply_is_not(owner):
    chat = ChatFactory(owner=owner)
    too_long = "x" * 10_001
    with pytest.raises(ValidationError) as refused:
        Message(chat=chat, role=Message.Role.USER, content=too_long).full_clean()
    assert list(refused.value.message_dict) == ["content"]
    Message(chat=chat, role=Message.Role.ASSISTANT, content=too_long).full_clean()
    Message(chat=chat, role=Message.Role.USER, content="x" * 10_000).full_clean()
