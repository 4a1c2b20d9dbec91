"""The model-call log of a turn: a hook that times every model request and notes its tokens
and tool calls, and the ModelCall rows saved from those notes when the turn ends."""

from __future__ import annotations

import time

from django.utils import timezone
from pydantic_ai import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.capabilities import AbstractCapability

from apps.core.json import MAX_STORED_DEPTH, json_problem
from apps.llm_agent.models import ModelCall
from apps.llm_agent.providers import describe_error
from apps.llm_chat.agent.tools import ModelCallRecord, TurnDeps

# Tool arguments longer than this are kept truncated: the log is for reading, not replay.
TOOL_ARGS_MAX_CHARS = 2000


class CallLog(AbstractCapability[TurnDeps]):
    """Times every model request and notes its tokens and tool calls for the ModelCall log."""

    async def before_model_request(self, ctx, request_context):
        ctx.deps.calls.append(
            ModelCallRecord(started_at=timezone.now(), started=time.perf_counter())
        )
        return request_context

    async def after_model_request(self, ctx, *, request_context, response: ModelResponse):
        record = ctx.deps.calls[-1]
        record.finished = time.perf_counter()
        record.model_name = response.model_name or ""
        record.input_tokens = response.usage.input_tokens
        record.output_tokens = response.usage.output_tokens
        record.tool_calls = [
            _tool_call_summary(part) for part in response.parts if isinstance(part, ToolCallPart)
        ]
        return response

    async def on_model_request_error(self, ctx, *, request_context, error: Exception):
        record = ctx.deps.calls[-1]
        record.finished = time.perf_counter()
        record.error = describe_error(error, ctx.deps.agent).detail
        raise error


def _tool_call_summary(part: ToolCallPart) -> dict:
    args = part.args_as_dict()
    # The model's JSON may hold 1e400 (read as infinity) or nest past any limit: the record
    # keeps why instead, so saving it cannot fail (the tool refuses such values anyway).
    problem = json_problem(args, max_depth=MAX_STORED_DEPTH)
    text = problem or repr(args)
    if problem or len(text) > TOOL_ARGS_MAX_CHARS:
        args = {"truncated": text[:TOOL_ARGS_MAX_CHARS]}
    return {"name": part.tool_name, "args": args}


def note_interrupted_response(deps: TurnDeps, messages: list[ModelMessage]) -> None:
    """Credit the tokens of a response cut short to the request that was still open."""
    record = deps.calls[-1] if deps.calls else None
    response = messages[-1] if messages else None
    if record is None or record.finished is not None or not isinstance(response, ModelResponse):
        return
    record.input_tokens = response.usage.input_tokens
    record.output_tokens = response.usage.output_tokens
    record.tool_calls = [
        _tool_call_summary(part) for part in response.parts if isinstance(part, ToolCallPart)
    ]


def save_calls(
    deps: TurnDeps, turn_error: str, *, blame_last: bool = False, log_failure: bool = False
) -> ModelCall | None:
    """Save the turn's model requests, and return the one that failed the turn (None when it
    succeeded, or failed before any request without `log_failure`).

    A request still open when the turn failed is the one that failed it; with `blame_last`,
    so is the last response (its tool arguments were unusable), so operators see the failure
    against the call that caused it. `turn_error` is the operators' text (masked). With
    `log_failure`, a turn that failed before any request was recorded (the provider not
    configured, a crash) gets a row of its own: operators find the failure in the log, and the
    user's message can name it as a reference.
    """
    now = time.perf_counter()
    rows = []
    last = deps.calls[-1] if deps.calls else None
    for record in deps.calls:
        error = record.error
        if (
            not error
            and turn_error
            and (record.finished is None or (blame_last and record is last))
        ):
            error = turn_error
        rows.append(
            ModelCall(
                agent=deps.agent,
                chat=deps.chat,
                message=deps.message,
                model_name=record.model_name or deps.agent.model_name,
                # The agent's provider, one value with the connection checks' (a response
                # names an OpenAI-compatible server "openai-compatible").
                provider=deps.agent.provider,
                started_at=record.started_at,
                latency_ms=round(((record.finished or now) - record.started) * 1000, 1),
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                tool_calls=record.tool_calls,
                outcome=ModelCall.Outcome.ERROR if error else ModelCall.Outcome.OK,
                error=error,
                library_examples=deps.examples,
            )
        )
    failed = [row for row in rows if row.outcome == ModelCall.Outcome.ERROR]
    if turn_error and log_failure and not failed:
        failed.append(
            ModelCall(
                agent=deps.agent,
                chat=deps.chat,
                message=deps.message,
                model_name=deps.agent.model_name,
                provider=deps.agent.provider,
                started_at=timezone.now(),
                latency_ms=0,
                outcome=ModelCall.Outcome.ERROR,
                error=turn_error,
            )
        )
        rows.append(failed[-1])
    ModelCall.objects.bulk_create(rows)
    return failed[-1] if turn_error and failed else None
