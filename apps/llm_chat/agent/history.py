"""Store a turn's provider messages on its reply, and replay recent turns on the next one.

A complete reply replays exactly what the provider saw (`model_messages`, pydantic-ai's own
serialisation). A reply that failed, or one without stored messages (demo data), replays as
plain text: the user's message and what the assistant managed to say, so the model keeps the
thread without half-finished tool calls.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from pydantic import ValidationError as PydanticValidationError
from pydantic_ai import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
)

from apps.llm_chat.models import Message

logger = logging.getLogger(__name__)


def dump_messages(messages: list[ModelMessage]) -> list:
    """JSON-ready data for Message.model_messages."""
    return json.loads(ModelMessagesTypeAdapter.dump_json(messages))


def load_messages(data: list) -> list[ModelMessage]:
    return ModelMessagesTypeAdapter.validate_json(json.dumps(data))


def recent_history(user_message: Message, *, turns: int | None = None) -> list[ModelMessage]:
    """The provider messages of the last `turns` turns before `user_message`, oldest first."""
    turns = settings.LLM_HISTORY_TURNS if turns is None else turns
    if turns <= 0:
        return []
    # Ids grow with time, and unlike timestamps they never tie.
    earlier = list(
        Message.objects.filter(
            chat_id=user_message.chat_id, role=Message.Role.USER, pk__lt=user_message.pk
        )
        .order_by("-id")
        .values_list("pk", flat=True)[:turns]
    )
    if not earlier:
        return []
    first = earlier[-1]
    window = Message.objects.filter(
        chat_id=user_message.chat_id,
        role__in=[Message.Role.USER, Message.Role.ASSISTANT],
        pk__gte=first,
        pk__lt=user_message.pk,
    ).order_by("id")
    questions: list[Message] = []
    replies: dict[int, Message] = {}
    for message in window:
        if message.role == Message.Role.USER:
            questions.append(message)
        elif message.reply_to_id or questions:
            # Replies written by the agent name their question; older ones (demo data) answer
            # the question before them.
            replies[message.reply_to_id or questions[-1].pk] = message
    history: list[ModelMessage] = []
    for question in questions:
        history.extend(_turn_messages(question, replies.get(question.pk)))
    return history


def _turn_messages(question: Message, reply: Message | None) -> list[ModelMessage]:
    if reply is not None and reply.status == Message.Status.COMPLETE and reply.model_messages:
        try:
            return load_messages(reply.model_messages)
        except PydanticValidationError:
            # Stored by another pydantic-ai version, say: the text still carries the thread.
            logger.warning("Could not replay model messages of message %s", reply.pk)
    if reply is None:
        answer = "(No reply was given to this message.)"
    elif reply.status == Message.Status.ERROR:
        answer = reply.content or "(The reply failed before any text arrived.)"
        answer += f"\n\n(This reply was cut short: {reply.error})"
    else:
        answer = reply.content or "(No text.)"
    return [
        ModelRequest.user_text_prompt(question.content),
        ModelResponse(parts=[TextPart(answer)]),
    ]
