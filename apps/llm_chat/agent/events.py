"""What a turn tells its caller as it happens.

`run_turn` yields these in order: one `TurnStarted`, then any mix of `TextDelta`,
`ToolActivity` and `ArtifactSaved`, and finally exactly one `TurnDone` or `TurnFailed`.
Each event turns into a plain dict (`as_dict()`, with its `type`) for the API, or into one
Server-Sent Event (`as_sse()`: `event: <type>` and the dict as JSON `data`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import ClassVar, Literal


@dataclass(frozen=True)
class TurnEvent:
    type: ClassVar[str] = ""

    def as_dict(self) -> dict:
        return {"type": self.type, **asdict(self)}

    def as_sse(self) -> str:
        """One Server-Sent Event: the type as the event name, the dict as JSON data."""
        return f"event: {self.type}\ndata: {json.dumps(self.as_dict(), ensure_ascii=False)}\n\n"


@dataclass(frozen=True)
class TurnStarted(TurnEvent):
    """The reply exists (status pending) and the model is being asked."""

    type: ClassVar[str] = "start"
    user_message_id: int
    message_id: int


@dataclass(frozen=True)
class TextDelta(TurnEvent):
    """More assistant text (Markdown, unsanitised: render it through the sanitiser)."""

    type: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True)
class TextSoFar(TextDelta):
    """All the text written so far, for a reader who joins a reply under way (a reopened page,
    a reconnect): on the wire a `text` event like any other, whose text is the whole start."""


@dataclass(frozen=True)
class ToolActivity(TurnEvent):
    """A tool call starting or finishing, with a label for people ("Running SQL")."""

    type: ClassVar[str] = "tool"
    call_id: str
    tool: str
    label: str
    state: Literal["started", "done", "failed"]


@dataclass(frozen=True)
class ArtifactSaved(TurnEvent):
    """The turn created, updated or ran an artifact: show its card now."""

    type: ClassVar[str] = "artifact"
    artifact_id: int
    action: Literal["created", "updated", "executed"]
    title: str


@dataclass(frozen=True)
class TurnDone(TurnEvent):
    """The reply is complete and saved."""

    type: ClassVar[str] = "done"
    message_id: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class TurnFailed(TurnEvent):
    """The reply stopped; what arrived is saved and the message is marked `error`."""

    type: ClassVar[str] = "error"
    message_id: int
    reason: str


@dataclass(frozen=True)
class TurnStopped(TurnEvent):
    """The owner stopped the turn; what arrived is saved and the message is marked `stopped`."""

    type: ClassVar[str] = "stopped"
    message_id: int
