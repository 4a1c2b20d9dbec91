"""A pydantic-ai FunctionModel that plays a script, for unit tests of the agent turn.

Each model request takes the next step: `Say("text", ...)` streams text in those chunks
(a number among them is a pause, in seconds),
`Call(tool, args)` streams tool calls (JSON arguments in two pieces, or raw pieces that may be
malformed), and a plain function receives the messages so far and returns a step, so a test
can check what the model was told (a tool's error, the replayed history) before answering.
Every request's messages are kept in `requests`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pydantic_ai import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

_ids = itertools.count(1)


@dataclass
class Say:
    chunks: tuple[str | float, ...]

    def __init__(self, *chunks: str | float) -> None:
        self.chunks = chunks


@dataclass
class Call:
    tool: str
    args: dict | list[str]
    id: str = field(default_factory=lambda: f"call_{next(_ids)}")


@dataclass
class Raise:
    """Stream some text, then fail as a broken provider would."""

    chunks: tuple[str, ...]
    error: Exception


Step = Say | Call | list[Call] | Raise | Callable[[list[ModelMessage]], "Step"]


class ScriptedModel:
    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[list[ModelMessage]] = []
        self.model = FunctionModel(stream_function=self._stream, model_name="scripted")

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator:
        self.requests.append(list(messages))
        if len(self.requests) > len(self.steps):
            raise AssertionError(f"the script has no step {len(self.requests)}")
        step = self.steps[len(self.requests) - 1]
        while callable(step) and not isinstance(step, Say | Call | Raise | list):
            step = step(messages)
        if isinstance(step, Say):
            for chunk in step.chunks:
                if isinstance(chunk, int | float):
                    await asyncio.sleep(chunk)  # a slow model, between two chunks
                else:
                    yield chunk
        elif isinstance(step, Raise):
            for chunk in step.chunks:
                yield chunk
            raise step.error
        else:
            calls = step if isinstance(step, list) else [step]
            for index, tool_call in enumerate(calls):
                pieces = (
                    _halves(json.dumps(tool_call.args))
                    if isinstance(tool_call.args, dict)
                    else tool_call.args
                )
                yield {index: DeltaToolCall(name=tool_call.tool, tool_call_id=tool_call.id)}
                for piece in pieces:
                    yield {index: DeltaToolCall(json_args=piece)}


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def last_tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """The tool results the model is answering, from the newest request."""
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    return [part for part in request.parts if isinstance(part, ToolReturnPart)]


def tool_text(messages: list[ModelMessage]) -> str:
    return "\n".join(str(part.content) for part in last_tool_returns(messages))
