"""Writes in a chat that span models: the page, the API and the agent share them."""

from __future__ import annotations

from django.db import transaction

from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Chat, Message, title_from_question


def post_user_message(chat: Chat, *, content: str) -> Message:
    """Save what the user wrote, before anything else happens, so it is never lost.

    This is the one place a user message enters a chat. The page and the API then start
    the agent's turn for it (apps.llm_chat.agent), so a failed turn never costs the question.
    """
    message = Message(chat=chat, role=Message.Role.USER, content=content)
    message.full_clean()
    with transaction.atomic():
        message.save()
        # The chat list is ordered by activity, so a new message moves its chat to the top.
        chat.touch()
    return message


def start_chat(
    owner, agent: Agent, *, question: str, subject_artifact: Artifact | None = None
) -> tuple[Chat, Message]:
    """A new chat with its first question, named after it. The chat is made only with a
    question, so opening "new chat" and leaving never leaves an empty chat behind.
    `subject_artifact`: the artifact the chat is about ("Ask the agent about this
    artifact"), which the agent gets as context. The chat keeps the active language: the
    agent writes its artifacts in it."""
    message = Message(role=Message.Role.USER, content=question)
    message.full_clean(exclude=["chat"])
    with transaction.atomic():
        chat = Chat.objects.create(
            owner=owner,
            agent=agent,
            title=title_from_question(question),
            subject_artifact=subject_artifact,
            language=Chat.language_now(),
        )
        message.chat = chat
        message.save()
    return chat, message
