"""The agent turn: ask the model, let it use its tools, stream what happens, keep everything.

The caller saves the user's message first (`services.post_user_message`), then iterates
`run_turn(chat, user_message)`. The turn

1. starts the assistant reply with status `pending` (`Message.start_reply`, linked to the
   question by `reply_to`) and leased to this turn: a heartbeat renews the lease and notices a
   Stop pressed in another process (`_heartbeat`, Message.heartbeat); every write of the turn
   is conditional on the lease,
2. replays the last `LLM_HISTORY_TURNS` turns and streams the model's run, yielding events
   (see `events.py`) and saving the reply's text as it grows (`reply.py`),
3. ends `complete` (`Message.finish`) with the turn's provider messages in `model_messages` and
   its tokens, or `error` (`Message.fail`) with what arrived so far and a reason in plain words:
   a provider failure, a timeout, malformed tool arguments the model would not fix, or the
   turn being cancelled (the server shutting down; the page's and the API's streams run the
   turn detached, apps/llm_chat/live.py, so a closed page does not cancel it). Every model
   request is logged as a `ModelCall` either way (`calls.py`). The user reads plain words
   and a reference (the model call's number); the operators' detail (masked base URL,
   environment variable, the SDK's text) goes to that `ModelCall` row and the server log
   (TurnFailure).

`retry_turn` re-runs the turn of a user message whose reply failed. It reuses the failed reply
row (cleared, back to `pending`), so the chat keeps one reply per question and the page can
swap it in place; artifacts the failed attempt saved stay linked to it, and the failed
attempt's model calls stay in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import (
    AgentRunError,
    AgentRunResultEvent,
    ModelMessage,
    UnexpectedModelBehavior,
)
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage, UsageLimits

from apps.datasources.access import EVERYTHING, Exposure, exposure_of
from apps.datasources.sources import UnknownDataSource, get_data_source
from apps.llm_agent.models import Agent, ModelCall
from apps.llm_agent.providers import ProviderNotConfigured, describe_error, open_model, scrub
from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import history, prompts
from apps.llm_chat.agent.calls import CallLog, note_interrupted_response, save_calls
from apps.llm_chat.agent.events import (
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnStarted,
    TurnStopped,
)
from apps.llm_chat.agent.library import example_record, verified_examples
from apps.llm_chat.agent.reply import StreamingReply
from apps.llm_chat.agent.tools import (
    LIBRARY_TOOLS,
    TOOL_ARGUMENT_RETRIES,
    TurnDeps,
    turn_tools,
)
from apps.llm_chat.models import INTERRUPTED, LEASE_RENEW_SECONDS, Chat, Message, TurnRefused

logger = logging.getLogger(__name__)

# A turn that needs more model requests than this is going in circles.
MAX_MODEL_REQUESTS_PER_TURN = 20
# How often a turn looks in the database for a Stop pressed in another process (and renews its
# lease on the reply every LEASE_RENEW_SECONDS).
STOP_CHECK_SECONDS = 1.0
INTERNAL_ERROR = (
    "Something went wrong on our side while answering. Retry, or tell an operator if it keeps "
    "happening."
)
INTERNAL_ERROR_DETAIL = "The turn crashed; the traceback is in the server log"
DATA_SOURCE_MISSING = "The assistant's data source is not available; ask an operator."


# The turns running in this process, by reply id, and the replies whose owner pressed Stop.
# A turn runs in the task that iterates it (a detached task of apps/llm_chat/live.py, or the
# no-JavaScript request).
_running: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task]] = {}
_stop_requested: set[int] = set()


def stop_turn(reply_id: int) -> bool:
    """Stop the running turn of this reply, if it runs in this process: its task is cancelled
    and the turn saves what was written, marked `stopped`. False if no turn of this process
    writes that reply (finished, or running in another process)."""
    running = _running.get(reply_id)
    if running is None:
        return False
    loop, task = running
    _stop_requested.add(reply_id)
    loop.call_soon_threadsafe(task.cancel)
    return True


@dataclass(frozen=True)
class TurnFailure:
    """Why a turn failed: `public` for the user, `detail` for operators (the model-call log).

    With `for_operators`, the failure is one an operator can act on: it is logged as a model
    call even when no request was made, and the user's text gets that call's number as a
    reference to quote.
    """

    public: str
    detail: str
    for_operators: bool = True


# The turn was cancelled (the server shutting down, a no-JavaScript request abandoned, or the
# reply taken for dead): nothing an operator needs to act on.
_INTERRUPTED = TurnFailure(INTERRUPTED, INTERRUPTED, for_operators=False)


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
    chat: Chat, user_message: Message, *, model: Model | None = None, library: bool = True
) -> AsyncIterator[TurnEvent]:
    """Answer a saved user message, yielding TurnEvents (see events.py).

    Raises TurnRefused on the first iteration if the message already has a reply. `model`
    overrides the agent's provider (tests, benchmarks). `library=False` runs the turn without
    the library: no verified examples in the instructions, no search_artifacts or
    run_artifact (the evaluation's --without-library baseline).

    Closing this generator closes the turn inside it before `aclose()` returns, so a reply
    cut off by the caller is marked `error` in the caller's task. Left to the garbage
    collector, that clean-up would run in a task of its own, possibly while the event loop
    shuts down (asgiref's executor for the loop already gone): the reply stayed `pending`, or
    its save landed on another thread and database connection.
    """
    async with contextlib.aclosing(
        _turn(chat.pk, user_message.pk, retry=False, model=model, library=library)
    ) as events:
        async for event in events:
            yield event


async def retry_turn(
    chat: Chat, user_message: Message, *, model: Model | None = None
) -> AsyncIterator[TurnEvent]:
    """Run the turn again for a user message whose reply failed (Message.is_retryable)."""
    async with contextlib.aclosing(
        _turn(chat.pk, user_message.pk, retry=True, model=model, library=True)
    ) as events:
        async for event in events:
            yield event


def run_turn_sync(
    chat: Chat, user_message: Message, *, model: Model | None = None, library: bool = True
) -> TurnOutcome:
    return _collect(
        lambda: run_turn(chat, user_message, model=model, library=library), user_message
    )


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
    # What the agent is told about the artifact the chat is about ("" for none).
    subject: str = ""
    setup_error: TurnFailure | None = None
    # What the agent's tools may read of its data source, read once for the turn.
    exposure: Exposure = EVERYTHING
    # Whether the turn may use the library, and the verified artifacts it is given.
    library: bool = True
    examples: list[Artifact] = field(default_factory=list)


def _prepare(chat_id: int, user_message_id: int, *, retry: bool, library: bool) -> _Turn:
    chat = Chat.objects.select_related("agent", "owner", "subject_artifact").get(pk=chat_id)
    user_message = Message.objects.filter(chat=chat, pk=user_message_id).first()
    if user_message is None:
        raise TurnRefused("Only a user message in this chat can start a turn.")
    reply = user_message.start_reply(retry=retry)
    turn = _Turn(
        chat=chat,
        agent=chat.agent,
        user_message=user_message,
        reply=reply,
        history=history.recent_history(user_message),
        library=library,
    )
    subject = chat.subject_artifact
    if subject is not None and subject.is_visible_to(chat.owner):
        turn.subject = prompts.subject_context(
            subject, can_update=subject.is_editable_by(chat.owner)
        )
    try:
        turn.dialect = get_data_source(chat.agent.data_source).dialect
    except UnknownDataSource as exc:
        turn.setup_error = TurnFailure(
            DATA_SOURCE_MISSING, f"The agent's data source is not configured: {exc}"
        )
    refused = chat.agent.unusable_reason(chat.owner)
    if refused:
        # Access changed since the chat began (agent groups, data-source grants): the turn
        # would read data its owner may not. The user's to act on, not the operators'.
        turn.setup_error = TurnFailure(refused, refused, for_operators=False)
    else:
        turn.exposure = exposure_of(chat.agent.data_source)
        if library:
            turn.examples = verified_examples(
                chat.owner, chat.agent.data_source, user_message.content
            )
    if not chat.agent.is_active:
        deactivated = (
            f"The agent {chat.agent.name!r} has been deactivated; start a new chat with an "
            "active agent."
        )
        # The user's to act on: nothing for operators to look up.
        turn.setup_error = TurnFailure(deactivated, deactivated, for_operators=False)
    return turn


def build_agent(
    agent: Agent,
    model: Model,
    *,
    dialect: str,
    examples: Sequence[Artifact] = (),
    library: bool = True,
    subject: str = "",
    language: str = "en",
) -> PydanticAgent[TurnDeps, str]:
    return PydanticAgent(
        model,
        deps_type=TurnDeps,
        output_type=str,
        instructions=prompts.instructions(
            agent,
            dialect=dialect,
            examples=examples,
            library=library,
            subject=subject,
            language=language,
        ),
        tools=turn_tools()
        if library
        else [tool for tool in turn_tools() if tool.name not in LIBRARY_TOOLS],
        retries={"tools": TOOL_ARGUMENT_RETRIES, "output": 1},
        capabilities=[CallLog()],
        name="llm-artifacts",
    )


def _build_turn_agent(turn: _Turn, model: Model) -> PydanticAgent[TurnDeps, str]:
    return build_agent(
        turn.agent,
        model,
        dialect=turn.dialect,
        examples=turn.examples,
        library=turn.library,
        subject=turn.subject,
        language=turn.chat.language,
    )


def _streaming_reply(turn: _Turn) -> StreamingReply:
    # The chat's language: the activity lines people watch are written in it.
    return StreamingReply(
        turn.reply.pk, lease_owner=turn.reply.lease_owner, language=turn.chat.language
    )


def _turn_deps(turn: _Turn) -> TurnDeps:
    return TurnDeps(
        chat=turn.chat,
        owner=turn.chat.owner,
        agent=turn.agent,
        data_source=turn.agent.data_source,
        dialect=turn.dialect,
        message=turn.reply,
        exposure=turn.exposure,
        examples=example_record(turn.examples),
    )


def _failure_for(exc: Exception, turn: _Turn, chat_id: int) -> TurnFailure:
    """What the reply says about a turn that raised, logged for operators where it is theirs."""
    failure = _expected_failure(exc, turn.agent)
    if failure is None:  # a bug of ours, or the database: say so, keep the traceback
        detail = scrub(f"{INTERNAL_ERROR_DETAIL} ({type(exc).__name__}: {exc})", turn.agent)
        logger.exception("Agent turn crashed (chat %s, message %s)", chat_id, turn.reply.pk)
        return TurnFailure(INTERNAL_ERROR, detail)
    if failure.for_operators:
        logger.warning(
            "Agent turn failed (chat %s, message %s): %s", chat_id, turn.reply.pk, failure.detail
        )
    return failure


async def _turn(
    chat_id: int, user_message_id: int, *, retry: bool, model: Model | None, library: bool
) -> AsyncIterator[TurnEvent]:
    turn = await sync_to_async(_prepare)(chat_id, user_message_id, retry=retry, library=library)
    reply = _streaming_reply(turn)
    deps = _turn_deps(turn)
    run = None
    completed = False
    task, heartbeat, finishing = _start_heartbeat(turn)
    try:
        yield TurnStarted(user_message_id=turn.user_message.pk, message_id=turn.reply.pk)
        if turn.setup_error:
            raise _SetupError(turn.setup_error)
        result = None
        async with contextlib.AsyncExitStack() as stack:
            if model is None:
                model = await stack.enter_async_context(open_model(turn.agent))
            agent = _build_turn_agent(turn, model)
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
        finishing.set()
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
    except asyncio.CancelledError:
        finishing.set()
        if turn.reply.pk in _stop_requested and not completed:
            # The owner pressed Stop (stop_turn): keep what was written, marked stopped, and
            # end the turn normally, so the stream still carries the final message.
            if task is not None:
                task.uncancel()
            await asyncio.shield(_stop_async(turn, deps, reply, run))
            yield TurnStopped(message_id=turn.reply.pk)
            return
        # Cancelled (the server shutting down, an abandoned no-JavaScript request, or the reply
        # taken for dead). Keep what arrived, then let the cancellation carry on; the shield
        # stops a second cancel from losing the save.
        if not completed:
            await asyncio.shield(_fail_async(turn, deps, reply, _INTERRUPTED, run))
        raise
    except GeneratorExit:
        finishing.set()
        if not completed:
            await asyncio.shield(_fail_async(turn, deps, reply, _INTERRUPTED, run))
        raise
    except Exception as exc:
        finishing.set()
        failure = _failure_for(exc, turn, chat_id)
        # The model answered, but unusably (e.g. tool arguments it would not fix).
        blame_last = isinstance(exc, UnexpectedModelBehavior)
        reason = await _fail_async(turn, deps, reply, failure, run, blame_last=blame_last)
        yield TurnFailed(message_id=turn.reply.pk, reason=reason)
    finally:
        await _end_heartbeat(turn, heartbeat)


def _start_heartbeat(turn: _Turn) -> tuple[asyncio.Task | None, asyncio.Task | None, asyncio.Event]:
    """Register the running turn (for Stop) and start renewing its lease. Returns the turn's
    task, the heartbeat's task, and the event the turn sets once it writes its outcome (from
    then on the heartbeat stops nothing)."""
    task = asyncio.current_task()
    finishing = asyncio.Event()
    heartbeat = None
    if task is not None:
        _running[turn.reply.pk] = (asyncio.get_running_loop(), task)
        heartbeat = asyncio.create_task(_heartbeat(turn.reply, finishing))
    return task, heartbeat, finishing


async def _end_heartbeat(turn: _Turn, heartbeat: asyncio.Task | None) -> None:
    if heartbeat is not None:
        heartbeat.cancel()
        # Its database call must be over before the turn's thread context closes.
        await asyncio.wait({heartbeat})
    _running.pop(turn.reply.pk, None)
    _stop_requested.discard(turn.reply.pk)


async def _heartbeat(reply: Message, finishing: asyncio.Event) -> None:
    """While the turn runs: renew its lease on the reply, and stop the turn when its owner
    pressed Stop in another process (Message.request_stop) or when the reply is no longer
    the turn's (taken for dead and marked interrupted, or retried: its writes are then no-ops).
    """
    renewed = asyncio.get_running_loop().time()
    while True:
        await asyncio.sleep(STOP_CHECK_SECONDS)
        renew = asyncio.get_running_loop().time() - renewed >= LEASE_RENEW_SECONDS
        try:
            state = await sync_to_async(reply.heartbeat)(renew=renew)
        except Exception:  # a database hiccup: the next beat tries again
            logger.warning("Could not renew the lease of reply %s", reply.pk, exc_info=True)
            continue
        if renew:
            renewed = asyncio.get_running_loop().time()
        if finishing.is_set():
            return  # the turn is writing its outcome: let it
        if state == "stop":
            stop_turn(reply.pk)
            return
        if state == "lost":
            logger.warning("Reply %s was taken from this turn (its lease lapsed)", reply.pk)
            running = _running.get(reply.pk)
            if running is not None:
                running[1].cancel()
            return


def _kept_run_state(turn: _Turn, deps: TurnDeps, run: object) -> tuple[list, RunUsage]:
    """What a turn cut short keeps of its run: the provider messages so far and their usage."""
    if run is None:
        return [], RunUsage()
    try:
        new_messages = run.new_messages()
        usage = run.usage
    except Exception:  # the run never started; there is nothing to keep
        logger.debug("No run state to keep for message %s", turn.reply.pk, exc_info=True)
        return [], RunUsage()
    note_interrupted_response(deps, new_messages)
    return history.dump_messages(new_messages), usage


async def _stop_async(turn: _Turn, deps: TurnDeps, reply: StreamingReply, run: object) -> None:
    await reply.settle()
    messages, usage = _kept_run_state(turn, deps, run)
    await sync_to_async(_stop)(turn, deps, reply.text, messages, usage)


def _stop(turn: _Turn, deps: TurnDeps, text: str, messages: list, usage: RunUsage) -> None:
    with transaction.atomic():
        save_calls(deps, "")
        turn.reply.stop(text, messages, tokens=(usage.input_tokens, usage.output_tokens))
        turn.chat.touch()


def _expected_failure(exc: Exception, agent: Agent) -> TurnFailure | None:
    """The failure a turn reports for an exception it expects; None for a bug of ours."""
    if isinstance(exc, _SetupError):
        return exc.failure
    if isinstance(exc, AgentRunError | ProviderNotConfigured):
        described = describe_error(exc, agent)
        return TurnFailure(described.public, described.detail)
    return None


class _SetupError(Exception):
    """The turn could not start; the failure is already phrased for the user and operators."""

    def __init__(self, failure: TurnFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def public_reason(failure: TurnFailure, call: ModelCall | None) -> str:
    """The user's text, with the number of the model call that holds the detail."""
    if call is None or not failure.for_operators:
        return failure.public
    return f"{failure.public} (Reference: model call {call.pk}.)"


async def _fail_async(
    turn: _Turn,
    deps: TurnDeps,
    reply: StreamingReply,
    failure: TurnFailure,
    run: object,
    *,
    blame_last: bool = False,
) -> str:
    """Mark the reply failed, keeping what arrived; returns the reason the user is shown."""
    await reply.settle()
    messages, usage = _kept_run_state(turn, deps, run)
    return await sync_to_async(_fail)(
        turn, deps, reply.text, failure, messages, usage, blame_last=blame_last
    )


def _complete(turn: _Turn, deps: TurnDeps, text: str, messages: list, usage: RunUsage) -> None:
    with transaction.atomic():
        turn.reply.finish(text, messages, tokens=(usage.input_tokens, usage.output_tokens))
        save_calls(deps, "")
        turn.chat.touch()


def _fail(
    turn: _Turn,
    deps: TurnDeps,
    text: str,
    failure: TurnFailure,
    messages: list,
    usage: RunUsage,
    *,
    blame_last: bool = False,
) -> str:
    with transaction.atomic():
        call = save_calls(
            deps, failure.detail, blame_last=blame_last, log_failure=failure.for_operators
        )
        reason = public_reason(failure, call)
        turn.reply.fail(reason, text, messages, tokens=(usage.input_tokens, usage.output_tokens))
        turn.chat.touch()
    return reason
