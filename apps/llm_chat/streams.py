"""A reply's events served as Server-Sent Events, to the chat page and to API clients.

`event_stream_response(events)` answers with `text/event-stream` and one event per TurnEvent
(`TurnEvent.as_sse()`: the type as the event name, its dict as JSON data). The page passes
`extra`, which adds server-rendered HTML to some events (see views.py).

`events` is a reader of the turn (apps/llm_chat/live.py), not the turn itself: the turn runs
detached, so a client that goes away ends only its reading. The reader runs in a task of its
own (the *pump*) and hands its events over a queue to the response, so that it is closed
promptly whatever the response's task was doing when the client left: Django cancels the
task streaming the response on a disconnect; if that task is waiting for our next event, the
cancellation reaches this generator, but if it is waiting on the socket, Django never resumes
this generator (its response wrappers do not close the iterator they wrap) and it would be
closed only whenever the response is garbage-collected. So a callback on the streaming task
stops the pump when that task ends, and the reader unsubscribes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from django.http import HttpRequest, StreamingHttpResponse

from apps.llm_chat.agent import TurnEvent, TurnRefused

EVENT_STREAM = "text/event-stream"
# Proxies (nginx) would otherwise buffer the stream, and caches keep nothing of it.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# A comment line after this much silence (a slow tool call) keeps proxies from timing out.
KEEP_ALIVE_SECONDS = 15.0

# Extra data for an event (e.g. rendered HTML), or None for the event as it is.
Extra = Callable[[TurnEvent], Awaitable[dict | None]]
# The event to send when the turn refuses to start (the message already has a reply).
OnRefused = Callable[[TurnRefused], Awaitable[str]]


def wants_event_stream(request: HttpRequest) -> bool:
    return EVENT_STREAM in request.headers.get("Accept", "")


def sse(event_type: str, data: dict) -> str:
    """One Server-Sent Event, in the same form as TurnEvent.as_sse()."""
    return f"event: {event_type}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def event_stream_response(
    events: AsyncIterator[TurnEvent],
    *,
    extra: Extra | None = None,
    on_refused: OnRefused | None = None,
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _stream(events, extra=extra, on_refused=on_refused), content_type=EVENT_STREAM
    )
    for name, value in HEADERS.items():
        response[name] = value
    return response


_END = object()
_KEEP_ALIVE = object()


async def _pump(events: AsyncIterator[TurnEvent], queue: asyncio.Queue) -> None:
    try:
        async with contextlib.aclosing(events) as turn:
            async for event in turn:
                queue.put_nowait(event)
    except TurnRefused as refused:
        queue.put_nowait(refused)
    finally:
        queue.put_nowait(_END)


async def _keep_alive(queue: asyncio.Queue, last_sent: list[float]) -> None:
    # One timer per stream, rather than a timeout around every event: at hundreds of
    # tokens a second, per-event timers are a measurable share of the server's CPU.
    while True:
        await asyncio.sleep(KEEP_ALIVE_SECONDS)
        if time.monotonic() - last_sent[0] >= KEEP_ALIVE_SECONDS:
            queue.put_nowait(_KEEP_ALIVE)


async def _stream(
    events: AsyncIterator[TurnEvent], *, extra: Extra | None, on_refused: OnRefused | None
) -> AsyncIterator[str]:
    queue: asyncio.Queue = asyncio.Queue()
    pump = asyncio.create_task(_pump(events, queue))
    last_sent = [time.monotonic()]
    keep_alive = asyncio.create_task(_keep_alive(queue, last_sent))
    streaming = asyncio.current_task()
    if streaming is not None:
        streaming.add_done_callback(lambda _: pump.cancel())
    try:
        while (item := await queue.get()) is not _END:
            last_sent[0] = time.monotonic()
            if item is _KEEP_ALIVE:
                yield ": keep-alive\n\n"
            elif isinstance(item, TurnRefused):
                if on_refused is not None:
                    yield await on_refused(item)
                else:
                    yield sse("refused", {"type": "refused", "reason": str(item)})
            else:
                data = await extra(item) if extra is not None else None
                yield item.as_sse() if data is None else sse(item.type, {**item.as_dict(), **data})
    finally:
        keep_alive.cancel()
        pump.cancel()
        # The reader unsubscribes (or stops tailing) as it stops: wait for that before the
        # response ends. asyncio.wait never raises the pump's own cancellation.
        await asyncio.wait({pump})
    if not pump.cancelled() and pump.exception() is not None:
        raise pump.exception()  # a crash of ours: let the server log it
