"""The agent turn and its tools. See runner.py for how a turn runs, events.py for what it says."""

from apps.llm_chat.agent.events import (
    ArtifactSaved,
    TextDelta,
    TextSoFar,
    ToolActivity,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    TurnStopped,
)
from apps.llm_chat.agent.runner import (
    TurnOutcome,
    TurnRefused,
    retry_turn,
    retry_turn_sync,
    run_turn,
    run_turn_sync,
    stop_turn,
)

__all__ = [
    "ArtifactSaved",
    "TextDelta",
    "TextSoFar",
    "ToolActivity",
    "TurnDone",
    "TurnEvent",
    "TurnFailed",
    "TurnOutcome",
    "TurnRefused",
    "TurnStarted",
    "TurnStopped",
    "retry_turn",
    "retry_turn_sync",
    "run_turn",
    "run_turn_sync",
    "stop_turn",
]
