"""The agent turn: ask the model, let it use its tools, stream what happens, keep everything.

The caller saves the user's message first (`services.post_user_message`), then iterates
`run_turn(chat, user_message)`. The turn

1. creates the assistant reply with status `pending` (linked to the question by `reply_to`),
2. replays the last `LLM_HISTORY_TURNS` turns and streams the model's run, yielding events
   (see `events.py`) and saving the reply's text every `SAVE_INTERVAL_SECONDS`,
3. ends `complete` with the turn's provider messages in `model_messages` and its tokens, or
   `error` with what arrived so far and a reason in plain words: a provider failure, a timeout,
   malformed tool arguments the model would not fix, or the caller going away (cancellation).
   Every model request is logged as a `ModelCall` either way.

`retry_turn` re-runs the turn of a user message whose reply failed. It reuses the failed reply
row (cleared, back to `pending`), so the chat keeps one reply per question and the page can
swap it in place; artifacts the failed attempt saved stay linked to it, and the failed
attempt's model calls stay in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from django.utils import timezone
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import (
    AgentRunError,
    AgentRunResultEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    UnexpectedModelBehavior,
)
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage, UsageLimits

from apps.core.json import MAX_STORED_DEPTH, json_problem
from apps.datasources.sources import UnknownDataSource, get_data_source
from apps.llm_agent.models import Agent
from apps.llm_agent.providers import ProviderNotConfigured, describe_error, open_model
from apps.llm_chat.agent import history, prompts
from apps.llm_chat.agent.events import (
    ArtifactSaved,
    TextDelta,
    ToolActivity,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnStarted,
)
from apps.llm_chat.agent.tools import (
    TOOL_ARGUMENT_RETRIES,
    TOOLS,
    ModelCallRecord,
    TurnDeps,
    started_label,
)
from apps.llm_chat.models import Chat, Message, ModelCall

logger = logging.getLogger(__name__)

# How often the streaming reply's text is written to the database: often enough that a crash
# loses little, rarely enough that 20 streaming chats do not queue on the database.
SAVE_INTERVAL_SECONDS = 0.5
# A turn that needs more model requests than this is going in circles.
MAX_MODEL_REQUESTS_PER_TURN = 20
INTERRUPTED = (
    "The reply was interrupted before it finished (the connection closed). "
    "Retry to run the turn again."
)
INTERNAL_ERROR = (
    "Something went wrong on our side while answering; it is in the server log. "
    "Retry, or tell an operator if it keeps happening."
)
TOOL_ARGS_MAX_CHARS = 2000
# Longer than any turn can run (MAX_MODEL_REQUESTS_PER_TURN requests, each bounded by the
# request timeout), so a reply still pending after this was orphaned by a crash.
STALE_PENDING_AFTER = dt.timedelta(hours=1)


REFUSALS = {
    Message.Status.PENDING: "This message is being answered.",
    Message.Status.COMPLETE: "This message already has a reply.",
    Message.Status.ERROR: "This reply failed; retry it instead.",
}


class TurnRefused(Exception):
    """The turn cannot start: the question already has a reply, or it is not a user message."""


@dataclass
class TurnOutcome:
    """What the non-streaming path returns: both messages of the turn and its events."""

    user_message: Message
    reply: Message
    events: list[TurnEvent]

    @property
    def ok(self) -> bool:
        return self.reply.status == Message.Status.COMPLETE


async def run_turn(
    chat: Chat, user_message: Message, *, model: Model | None = None
) -> AsyncIterator[TurnEvent]:
    """Answer a saved user message, yielding TurnEvents (see events.py).

    Raises TurnRefused on the first iteration if the message already has a reply. `model`
    overrides the agent's provider (tests, benchmarks).

    Closing this generator closes the turn inside it before `aclose()` returns, so a reply
    cut off by the caller is marked `error` in the caller's task. Left to the garbage
    collector, that clean-up would run in a task of its own, possibly while the event loop
    shuts down (asgiref's executor for the loop already gone): the reply stayed `pending`, or
    its save landed on another thread and database connection.
    """
    async with contextlib.aclosing(
        _turn(chat.pk, user_message.pk, retry=False, model=model)
    ) as events:
        async for event in events:
            yield event


async def retry_turn(
    chat: Chat, user_message: Message, *, model: Model | None = None
) -> AsyncIterator[TurnEvent]:
    """Run the turn again for a user message whose reply failed (see is_retryable)."""
    async with contextlib.aclosing(
        _turn(chat.pk, user_message.pk, retry=True, model=model)
    ) as events:
        async for event in events:
            yield event


def run_turn_sync(chat: Chat, user_message: Message, *, model: Model | None = None) -> TurnOutcome:
    return _collect(lambda: run_turn(chat, user_message, model=model), user_message)


def retry_turn_sync(
    chat: Chat, user_message: Message, *, model: Model | None = None
) -> TurnOutcome:
    return _collect(lambda: retry_turn(chat, user_message, model=model), user_message)


def _collect(make: Callable[[], AsyncIterator[TurnEvent]], user_message: Message) -> TurnOutcome:
    async def gather() -> list[TurnEvent]:
        return [event async for event in make()]

    events = async_to_sync(gather)()
    started = next(e for e in events if isinstance(e, TurnStarted))
    reply = Message.objects.select_related("artifact").get(pk=started.message_id)
    return TurnOutcome(user_message=user_message, reply=reply, events=events)


@dataclass
class _Turn:
    chat: Chat
    agent: Agent
    user_message: Message
    reply: Message
    history: list[ModelMessage]
    dialect: str = ""
    setup_error: str = ""


def _prepare(chat_id: int, user_message_id: int, *, retry: bool) -> _Turn:
    chat = Chat.objects.select_related("agent", "owner").get(pk=chat_id)
    user_message = Message.objects.filter(chat=chat, pk=user_message_id).first()
    if user_message is None or user_message.role != Message.Role.USER:
        raise TurnRefused("Only a user message in this chat can start a turn.")
    with transaction.atomic():
        reply = (
            Message.objects.select_for_update()
            .filter(reply_to=user_message, role=Message.Role.ASSISTANT)
            .order_by("-id")
            .first()
        )
        if reply is not None and not (retry and is_retryable(reply)):
            raise TurnRefused(REFUSALS[reply.status])
        if reply is None:
            reply = Message.objects.create(
                chat=chat,
                role=Message.Role.ASSISTANT,
                status=Message.Status.PENDING,
                reply_to=user_message,
            )
        else:
            reply.content = ""
            reply.error = ""
            reply.status = Message.Status.PENDING
            reply.model_messages = []
            reply.input_tokens = reply.output_tokens = None
            reply.save(
                update_fields=[
                    "content",
                    "error",
                    "status",
                    "model_messages",
                    "input_tokens",
                    "output_tokens",
                ]
            )
    turn = _Turn(
        chat=chat,
        agent=chat.agent,
        user_message=user_message,
        reply=reply,
        history=history.recent_history(user_message),
    )
    try:
        turn.dialect = get_data_source(chat.agent.data_source).dialect
    except UnknownDataSource as exc:
        turn.setup_error = f"The agent's data source is not configured: {exc}"
    if not chat.agent.is_active:
        turn.setup_error = (
            f"The agent {chat.agent.name!r} has been deactivated; start a new chat with an "
            "active agent."
        )
    return turn


def is_retryable(reply: Message) -> bool:
    """Whether the Retry button applies: the reply failed, or it has been pending so long that
    the process writing it must have died (a cancelled turn marks itself `error`)."""
    if reply.status == Message.Status.ERROR:
        return True
    return (
        reply.status == Message.Status.PENDING
        and reply.created_at < timezone.now() - STALE_PENDING_AFTER
    )


class _CallLog(AbstractCapability[TurnDeps]):
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
        record.provider = response.provider_name or ""
        record.input_tokens = response.usage.input_tokens
        record.output_tokens = response.usage.output_tokens
        record.tool_calls = [
            _tool_call_summary(part) for part in response.parts if isinstance(part, ToolCallPart)
        ]
        return response

    async def on_model_request_error(self, ctx, *, request_context, error: Exception):
        record = ctx.deps.calls[-1]
        record.finished = time.perf_counter()
        record.error = describe_error(error, ctx.deps.agent)
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


def build_agent(agent: Agent, model: Model, *, dialect: str) -> PydanticAgent[TurnDeps, str]:
    return PydanticAgent(
        model,
        deps_type=TurnDeps,
        output_type=str,
        instructions=prompts.instructions(agent, dialect=dialect),
        tools=TOOLS,
        retries={"tools": TOOL_ARGUMENT_RETRIES, "output": 1},
        capabilities=[_CallLog()],
        name="llm-artifacts",
    )


@dataclass
class _Reply:
    """The reply's text as it streams, and when it was last written to the database."""

    message_id: int
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
            await Message.objects.filter(pk=self.message_id).aupdate(content=text)
        except Exception:  # the final save writes everything again; log and go on
            logger.warning("Could not save the streaming reply %s", self.message_id, exc_info=True)
        else:
            self.saved_text = text

    async def settle(self) -> None:
        """Wait for a write in flight, so the final save is the last one."""
        if self.pending is not None:
            await self.pending


async def _turn(
    chat_id: int, user_message_id: int, *, retry: bool, model: Model | None
) -> AsyncIterator[TurnEvent]:
    turn = await sync_to_async(_prepare)(chat_id, user_message_id, retry=retry)
    reply = _Reply(turn.reply.pk)
    deps = TurnDeps(
        chat=turn.chat,
        owner=turn.chat.owner,
        agent=turn.agent,
        data_source=turn.agent.data_source,
        dialect=turn.dialect,
        message=turn.reply,
    )
    run = None
    completed = False
    try:
        yield TurnStarted(user_message_id=turn.user_message.pk, message_id=turn.reply.pk)
        if turn.setup_error:
            raise _SetupError(turn.setup_error)
        result = None
        async with contextlib.AsyncExitStack() as stack:
            if model is None:
                model = await stack.enter_async_context(open_model(turn.agent))
            agent = build_agent(turn.agent, model, dialect=turn.dialect)
            await stack.enter_async_context(agent)
            run = await stack.enter_async_context(
                agent.run_stream_events(
                    turn.user_message.content,
                    message_history=turn.history,
                    deps=deps,
                    usage_limits=UsageLimits(request_limit=MAX_MODEL_REQUESTS_PER_TURN),
                )
            )
            async for event in run:
                if isinstance(event, AgentRunResultEvent):
                    result = event.result
                    continue
                for ours in reply.translate(event):
                    yield ours
                reply.save_in_background()
        if result is None:
            raise RuntimeError("The agent run ended without a result.")
        usage = result.usage
        await reply.settle()
        await sync_to_async(_complete)(
            turn, deps, reply.text, history.dump_messages(result.new_messages()), usage
        )
        completed = True
        yield TurnDone(
            message_id=turn.reply.pk,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )
    except (asyncio.CancelledError, GeneratorExit):
        # The caller went away (browser closed the stream). Keep what arrived, then let the
        # cancellation carry on; the shield stops a second cancel from losing the save.
        if not completed:
            await asyncio.shield(_fail_async(turn, deps, reply, INTERRUPTED, run))
        raise
    except Exception as exc:
        if isinstance(exc, _SetupError):
            reason = str(exc)
        elif isinstance(exc, AgentRunError | ProviderNotConfigured):
            reason = describe_error(exc, turn.agent)
            logger.warning(
                "Agent turn failed (chat %s, message %s): %r", chat_id, turn.reply.pk, exc
            )
        else:  # a bug of ours, or the database: say so, and keep the traceback for operators
            reason = INTERNAL_ERROR
            logger.exception("Agent turn crashed (chat %s, message %s)", chat_id, turn.reply.pk)
        # The model answered, but unusably (e.g. tool arguments it would not fix).
        blame_last = isinstance(exc, UnexpectedModelBehavior)
        await _fail_async(turn, deps, reply, reason, run, blame_last=blame_last)
        yield TurnFailed(message_id=turn.reply.pk, reason=reason)


class _SetupError(Exception):
    """The turn could not start for a reason already phrased for the user."""


async def _fail_async(
    turn: _Turn,
    deps: TurnDeps,
    reply: _Reply,
    reason: str,
    run: object,
    *,
    blame_last: bool = False,
) -> None:
    await reply.settle()
    messages: list = []
    usage = RunUsage()
    if run is not None:
        try:
            new_messages = run.new_messages()
            usage = run.usage
        except Exception:  # the run never started; there is nothing to keep
            logger.debug("No run state to keep for message %s", turn.reply.pk, exc_info=True)
        else:
            messages = history.dump_messages(new_messages)
            _note_interrupted_response(deps, new_messages)
    await sync_to_async(_fail)(
        turn, deps, reply.text, reason, messages, usage, blame_last=blame_last
    )


def _note_interrupted_response(deps: TurnDeps, messages: list[ModelMessage]) -> None:
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


def _complete(turn: _Turn, deps: TurnDeps, text: str, messages: list, usage: RunUsage) -> None:
    reply = turn.reply
    reply.content = text
    reply.status = Message.Status.COMPLETE
    reply.error = ""
    reply.model_messages = messages
    reply.input_tokens = usage.input_tokens
    reply.output_tokens = usage.output_tokens
    with transaction.atomic():
        reply.save(
            update_fields=[
                "content",
                "status",
                "error",
                "model_messages",
                "input_tokens",
                "output_tokens",
            ]
        )
        _log_calls(turn, deps, "")
        Chat.objects.filter(pk=turn.chat.pk).update(updated_at=timezone.now())


def _fail(
    turn: _Turn,
    deps: TurnDeps,
    text: str,
    reason: str,
    messages: list,
    usage: RunUsage,
    *,
    blame_last: bool = False,
) -> None:
    reply = turn.reply
    reply.content = text
    reply.status = Message.Status.ERROR
    reply.error = reason
    # Kept for operators to inspect; history replays a failed turn as text only.
    reply.model_messages = messages
    reply.input_tokens = usage.input_tokens or None
    reply.output_tokens = usage.output_tokens or None
    with transaction.atomic():
        reply.save(
            update_fields=[
                "content",
                "status",
                "error",
                "model_messages",
                "input_tokens",
                "output_tokens",
            ]
        )
        _log_calls(turn, deps, reason, blame_last=blame_last)
        Chat.objects.filter(pk=turn.chat.pk).update(updated_at=timezone.now())


def _log_calls(turn: _Turn, deps: TurnDeps, turn_error: str, *, blame_last: bool = False) -> None:
    """Save the turn's model requests. A request still open when the turn failed is the one
    that failed it; with `blame_last`, so is the last response (its tool arguments were
    unusable), so operators see the failure against the call that caused it."""
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
                agent=turn.agent,
                chat=turn.chat,
                message=turn.reply,
                model_name=record.model_name or turn.agent.model_name,
                provider=record.provider or turn.agent.provider,
                started_at=record.started_at,
                latency_ms=round(((record.finished or now) - record.started) * 1000, 1),
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                tool_calls=record.tool_calls,
                outcome=ModelCall.Outcome.ERROR if error else ModelCall.Outcome.OK,
                error=error,
            )
        )
    ModelCall.objects.bulk_create(rows)
