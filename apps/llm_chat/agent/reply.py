"""The assistant reply as it streams: the model's events become TurnEvents, and the text so
far is written to the database now and then, so a crash loses little."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from django.utils import translation
from pydantic_ai import (
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)

from apps.llm_chat.agent.events import ArtifactSaved, TextDelta, ToolActivity, TurnEvent
from apps.llm_chat.agent.tools import started_label
from apps.llm_chat.models import Message

logger = logging.getLogger(__name__)

# How often the streaming reply's text is written to the database: often enough that a crash
# loses little, rarely enough that 20 streaming chats do not queue on the database.
SAVE_INTERVAL_SECONDS = 0.5


@dataclass
class StreamingReply:
    """The reply's text as it streams, and when it was last written to the database."""

    message_id: int
    # The turn's lease on the reply: a writer that lost it (taken for dead) writes nothing.
    lease_owner: str = ""
    # The chat's language: the tools' activity lines people watch are written in it.
    language: str = "en"
    text: str = ""
    saved_text: str = ""
    last_save: float = field(default_factory=time.monotonic)
    separate: bool = False
    tools: dict[str, tuple[str, str]] = field(default_factory=dict)
    pending: asyncio.Task | None = None

    def add_text(self, piece: str) -> list[TurnEvent]:
        if not piece:
            return []
        if self.separate:
            # A new text part after tool calls: keep the paragraphs apart.
            piece = "\n\n" + piece
            self.separate = False
        self.text += piece
        return [TextDelta(piece)]

    def translate(self, event: object) -> list[TurnEvent]:
        if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
            self.separate = bool(self.text)
            return self.add_text(event.part.content)
        if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            return self.add_text(event.delta.content_delta)
        if isinstance(event, FunctionToolCallEvent):
            part = event.part
            with translation.override(self.language):
                label = started_label(part.tool_name, part.args_as_dict())
            self.tools[part.tool_call_id] = (part.tool_name, label)
            return [ToolActivity(part.tool_call_id, part.tool_name, label, "started")]
        if isinstance(event, FunctionToolResultEvent):
            return self._tool_result(event)
        return []

    def _tool_result(self, event: FunctionToolResultEvent) -> list[TurnEvent]:
        part = event.part
        tool, label = self.tools.get(part.tool_call_id, (part.tool_name, part.tool_name))
        meta = part.metadata if isinstance(part.metadata, dict) else {}
        if part.outcome == "retried":
            return [
                ToolActivity(
                    part.tool_call_id,
                    tool,
                    f"The model sent unusable arguments to {tool}; asked it to fix them",
                    "failed",
                )
            ]
        ok = part.outcome == "success" and meta.get("ok", True)
        events: list[TurnEvent] = [
            ToolActivity(
                part.tool_call_id, tool, meta.get("activity") or label, "done" if ok else "failed"
            )
        ]
        if meta.get("artifact_id"):
            events.append(ArtifactSaved(meta["artifact_id"], meta["action"], meta["title"]))
        return events

    def save_in_background(self) -> None:
        """Write the text so far, at most every SAVE_INTERVAL_SECONDS, without waiting for it.

        The write runs as its own task: a slow database must not hold back the next token.
        One write at a time per reply, so they land in order.
        """
        if self.text == self.saved_text or (self.pending and not self.pending.done()):
            return
        if time.monotonic() - self.last_save < SAVE_INTERVAL_SECONDS:
            return
        self.last_save = time.monotonic()
        self.pending = asyncio.create_task(self._save(self.text))

    async def _save(self, text: str) -> None:
        try:
            await Message.objects.filter(
                pk=self.message_id, lease_owner=self.lease_owner, status=Message.Status.PENDING
            ).aupdate(content=text)
        except Exception:  # the final save writes everything again; log and go on
            logger.warning("Could not save the streaming reply %s", self.message_id, exc_info=True)
        else:
            self.saved_text = text

    async def settle(self) -> None:
        """Wait for a write in flight, so the final save is the last one."""
        if self.pending is not None:
            await self.pending
