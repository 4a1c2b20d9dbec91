"""Agent replies that outlive the page: turns detached from the request, and their readers.

A turn the page or the API starts (`follow`) runs in a task of its own on the server's event
loop, not in the request: closing the page, reloading it or navigating away ends the reader,
never the turn. The turns running in this process are kept here, by question. A reader
subscribes to one:

- in the process that runs the turn, it gets the events so far (the text as one piece) and then
  every event as the turn yields it, from memory: nothing is added to the token latency;
- in any other process (behind a load balancer), it gets what the turn saved to the reply and
  then tails the row (`TAIL_POLL_SECONDS`) until the reply is final.

The writer holds a lease on its reply (Message.lease_owner / lease_expires_at, renewed by the
turn's heartbeat, apps/llm_chat/agent/runner.py). A writer that died stops renewing it; its
reply is then marked interrupted with what was written, by `sweep_forever` (every web process
runs it, see config/asgi.py) or by whoever reads it first (the page, a stream, Retry), and
Retry works at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import AsyncToSync, ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections, connections
from pydantic_ai.models import Model

from apps.llm_chat.agent import (
    ArtifactSaved,
    TextDelta,
    TextSoFar,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnRefused,
    TurnStarted,
    TurnStopped,
    retry_turn,
    run_turn,
    stop_turn,
)
from apps.llm_chat.models import Chat, Message, MessageArtifact

logger = logging.getLogger(__name__)

# How often a reader in another process looks at the reply: about as often as the writer saves
# its text (apps/llm_chat/agent/reply.py), so it lags by about one save.
TAIL_POLL_SECONDS = 0.25
# How often each web process marks the replies of dead writers interrupted.
SWEEP_SECONDS = 5.0

_END = object()


class LiveTurn:
    """A turn running detached in this process, and the readers following it."""

    def __init__(self, question_id: int) -> None:
        self.question_id = question_id
        self.reply_id: int | None = None
        # The events so far, runs of text kept as lists of pieces (joined for a late reader).
        self._history: list[TurnEvent | list[str]] = []
        self._readers: set[asyncio.Queue] = set()
        self.ended = False
        self.refused: TurnRefused | None = None
        self.task: asyncio.Task | None = None

    def _publish(self, event: TurnEvent) -> None:
        if isinstance(event, TextDelta):
            if self._history and isinstance(self._history[-1], list):
                self._history[-1].append(event.text)
            else:
                self._history.append([event.text])
        else:
            self._history.append(event)
        for queue in self._readers:
            queue.put_nowait(event)

    def _so_far(self) -> list[TurnEvent]:
        return [
            TextSoFar("".join(item)) if isinstance(item, list) else item for item in self._history
        ]

    async def subscribe(self) -> AsyncIterator[TurnEvent]:
        """The turn's events: those so far, then each as it happens, until it ends. Raises
        TurnRefused if the turn could not start."""
        queue: asyncio.Queue = asyncio.Queue()
        # No await between the copy and the subscription: no event is lost or sent twice.
        backlog, ended = self._so_far(), self.ended
        if not ended:
            self._readers.add(queue)
        try:
            for event in backlog:
                yield event
            if not ended:
                while (event := await queue.get()) is not _END:
                    yield event
        finally:
            self._readers.discard(queue)
        if self.refused is not None:
            raise self.refused

    async def _drive(self, events: AsyncIterator[TurnEvent], *, own_thread: bool) -> None:
        # The turn's database work runs on a thread of its own, not on the request's (the
        # request ends long before the turn may): a reused one, whose connection persists
        # (CONN_MAX_AGE) as the request threads' do (apps/core/asgi.py). Under a test's
        # async_to_sync it stays on the caller's thread, where the test's transaction is.
        executor = _turn_threads.take() if own_thread else None
        try:
            async with ThreadSensitiveContext(executor=executor):
                if executor is not None:
                    # As a request does: drop a connection too old or broken to reuse.
                    await sync_to_async(close_old_connections)()
                try:
                    # Nothing here awaits but the turn: a Stop (a cancellation) always lands
                    # inside the turn, which then saves what was written.
                    async with contextlib.aclosing(events) as turn:
                        async for event in turn:
                            if isinstance(event, TurnStarted):
                                self.reply_id = event.message_id
                            self._publish(event)
                except TurnRefused as refused:
                    self.refused = refused
                except Exception:
                    logger.exception("The detached turn of question %s crashed", self.question_id)
        finally:
            if executor is not None:
                _turn_threads.give_back(executor)
            self.ended = True
            if _turns.get(self.question_id) is self:
                del _turns[self.question_id]
            for queue in self._readers:
                queue.put_nowait(_END)


class _TurnThreads:
    """Idle single-thread executors for detached turns, so each turn's database connection
    serves the next turn too (a new PostgreSQL connection is a new server process)."""

    def __init__(self, keep_idle: int = 8) -> None:
        self.keep_idle = keep_idle
        self._idle: list[ThreadPoolExecutor] = []

    def take(self) -> ThreadPoolExecutor:
        # Last in, first out: the thread used last has the freshest connection.
        if self._idle:
            return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="turn")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < self.keep_idle:
            self._idle.append(executor)
            return
        # Queued behind anything the thread still runs: its connections close on it.
        executor.submit(connections.close_all)
        executor.shutdown(wait=False)


_turn_threads = _TurnThreads()


# The turns running in this process, by question id.
_turns: dict[int, LiveTurn] = {}


def running(question_id: int) -> LiveTurn | None:
    """The detached turn answering this question in this process, if any."""
    return _turns.get(question_id)


def start(chat: Chat, question: Message, *, retry: bool, model: Model | None = None) -> LiveTurn:
    """Start the question's turn detached from the caller, on the running event loop."""
    live = LiveTurn(question.pk)
    _turns[question.pk] = live
    events = (
        retry_turn(chat, question, model=model) if retry else run_turn(chat, question, model=model)
    )
    # Called from sync code through async_to_sync (tests), the turn stays on that caller's
    # thread; under the server it starts from a clean context, owing nothing to the request.
    under_sync_caller = getattr(AsyncToSync.executors, "current", None) is not None
    context = contextvars.copy_context() if under_sync_caller else contextvars.Context()
    live.task = asyncio.get_running_loop().create_task(
        live._drive(events, own_thread=not under_sync_caller), context=context
    )
    return live


async def follow(
    chat: Chat, question: Message, *, retry: bool = False, model: Model | None = None
) -> AsyncIterator[TurnEvent]:
    """The events of the question's reply, for a stream: its turn started detached if it has
    no reply yet (or, with `retry`, if the reply may be retried), or followed where it runs.

    Raises TurnRefused (on the first iteration) when there is nothing to start or follow: the
    reply is final, or `retry` was asked of a reply still being written.
    """
    live = running(question.pk)
    if live is None and not retry:
        reply = await question.alatest_reply()
        live = running(question.pk)  # another reader here may have started it meanwhile
        if live is None and reply is not None:
            if (
                reply.status != Message.Status.PENDING
                or await sync_to_async(reply.interrupt_if_lapsed)()
            ):
                raise TurnRefused(reply.refusal)  # final, or its writer died: shown as it is
            async for event in tail(reply):  # being written by another process
                yield event
            return
    if live is None:
        # A retry the reply does not allow is refused by the turn, through subscribe().
        live = start(chat, question, retry=retry, model=model)
    elif retry:
        raise TurnRefused(Message.REFUSALS[Message.Status.PENDING])
    async for event in live.subscribe():
        yield event


async def tail(reply: Message) -> AsyncIterator[TurnEvent]:
    """Follow a reply another process writes, through the database: what is saved, then what
    is added, until it is final (or its writer dies and it is marked interrupted)."""
    yield TurnStarted(user_message_id=reply.reply_to_id, message_id=reply.pk)
    sent = reply.content
    if sent:
        yield TextSoFar(sent)
    shown: set[int] = set()
    while True:
        links = MessageArtifact.objects.filter(message_id=reply.pk).exclude(artifact_id__in=shown)
        async for link in links.select_related("artifact"):
            shown.add(link.artifact_id)
            yield ArtifactSaved(link.artifact_id, link.action, link.artifact.title)
        if reply.content != sent:
            if reply.content.startswith(sent):
                yield TextDelta(reply.content[len(sent) :])
            else:
                yield TextSoFar(reply.content)
            sent = reply.content
        if reply.status == Message.Status.PENDING:
            await sync_to_async(reply.interrupt_if_lapsed)()
        if reply.status != Message.Status.PENDING:
            yield final_event(reply)
            return
        await asyncio.sleep(TAIL_POLL_SECONDS)
        reply = await Message.objects.filter(pk=reply.pk).afirst()
        if reply is None:  # the chat was deleted meanwhile
            return


def final_event(reply: Message) -> TurnEvent:
    """The event that ends a stream of this final reply, as the turn would have sent it."""
    if reply.status == Message.Status.COMPLETE:
        return TurnDone(reply.pk, reply.input_tokens or 0, reply.output_tokens or 0)
    if reply.status == Message.Status.STOPPED:
        return TurnStopped(reply.pk)
    return TurnFailed(reply.pk, reply.error)


def stop(reply: Message) -> str:
    """Stop a pending reply wherever its turn runs, keeping what was written: "stopping" when
    a live writer was asked to (it saves and its readers get the final message), else the
    reply's status (a dead writer's reply is marked stopped here)."""
    if reply.status != Message.Status.PENDING:
        return reply.status
    if stop_turn(reply.pk):
        return "stopping"  # the turn runs here: the fast path
    if reply.is_lapsed:  # its writer died: keep what it wrote, marked stopped
        reply.stop(reply.content, reply.model_messages, tokens=(0, 0))
    elif reply.request_stop():
        return "stopping"  # its writer, in another process, checks every second
    reply.refresh_from_db(fields=["status"])
    return reply.status


async def sweep_forever() -> None:
    """Every SWEEP_SECONDS, mark the replies of dead writers interrupted (each web process
    runs this from its start: config/asgi.py)."""
    async with ThreadSensitiveContext():
        while True:
            try:
                marked = await sync_to_async(Message.objects.interrupt_lapsed)()
            except Exception:
                logger.warning("The sweep of lapsed replies failed", exc_info=True)
            else:
                if marked:
                    logger.info("Marked %s replies of dead writers interrupted", marked)
            await asyncio.sleep(SWEEP_SECONDS)


async def stop_all() -> None:
    """The server is shutting down: end the turns running here, each marked interrupted with
    what it wrote (a restart, like a crash, leaves nothing pending)."""
    tasks = [live.task for live in list(_turns.values()) if live.task is not None]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=10)
