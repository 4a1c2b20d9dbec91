"""Django under ASGI with fewer thread hops, on request threads that persist.

Two costs of Django's own ASGI handler, measured on the API's execute endpoint
(bench/api_execute.py):

- *A new thread per request.* The handler runs a request's synchronous code (middleware,
  views, the ORM) on a thread of its own, started for the request and joined by yet another
  thread when it ends. Django's database connections belong to the thread that opened them,
  so a persistent connection (CONN_MAX_AGE) would be left behind with its thread and never
  used again (Django ticket 33497); without one, every request connects and disconnects:
  on PostgreSQL a new server process each time (an execute took 5x the bare app), on
  SQLite a checkpoint of the WAL whenever its last connection closes.
  `ReusedRequestThreads` hands each HTTP request a single-thread executor from a pool of
  idle ones (asgiref's `ThreadSensitiveContext` with an executor; Django's own context
  then defers to it). A request still has its thread to itself while it runs, so
  concurrent requests run side by side as before; the next request on that thread reuses
  its connection. Django's request signals still close a connection that is too old,
  broken or left in a transaction (`close_old_connections`, on that same thread). Beyond
  `keep_idle` idle threads, a thread closes its connections on itself and ends.
- *Hops between the event loop and the thread.* The handler runs the middleware chain in
  async mode, so every sync-only middleware (WhiteNoise) and every `process_view` (CSRF)
  and the view itself cost a hop to the request's thread and back. `SyncChainASGIHandler`
  runs the whole chain, view included, in one call on the request's thread, as under
  WSGI. Async views (the chat's stream, reply and stop) are then called through
  `async_to_sync`, on the event loop as before; a streamed body is still sent from the
  event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import AsyncToSync, ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain and the view run in one thread hop."""

    def __init__(self) -> None:
        # Not ASGIHandler.__init__: it loads the middleware in async mode.
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # Thread-sensitive (the default): the request's own thread, where its connection is.
        return await sync_to_async(self.get_response)(request)


class _RequestContext(ThreadSensitiveContext):
    """asgiref's context with a given executor, minus one refusal.

    asgiref refuses a thread-sensitive call from a task that outlived the context (a save
    shielded from a second cancellation can); here it gets a thread of its own, as under
    Django's default context.
    """

    async def __aexit__(self, exc: Any, value: Any, tb: Any) -> None:
        await super().__aexit__(exc, value, tb)
        self._exited = False


class ReusedRequestThreads:
    """ASGI middleware: each HTTP request runs its sync code on a reused thread.

    It also answers the server's lifespan messages: `background` coroutines run from startup
    to shutdown (each app's periodic work, e.g. the chat's sweep of dead writers' replies),
    and `on_shutdown` coroutines run before the server stops.
    """

    def __init__(
        self,
        app: Any,
        *,
        keep_idle: int = 8,
        background: Sequence[Callable[[], Awaitable[None]]] = (),
        on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.app = app
        self.keep_idle = keep_idle
        self._idle: list[ThreadPoolExecutor] = []
        self.background = list(background)
        self.on_shutdown = list(on_shutdown)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        tasks: list[asyncio.Task] = []
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # A clean context each: they owe nothing to any request.
                tasks = [
                    asyncio.get_running_loop().create_task(run(), context=contextvars.Context())
                    for run in self.background
                ]
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for run in self.on_shutdown:
                    try:
                        await run()
                    except Exception:
                        logger.exception("A shutdown step failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http" or getattr(AsyncToSync.executors, "current", None):
            # Called from sync code through async_to_sync (tests do): as Django would, run
            # on that caller's thread, where its connection and transaction are.
            await self.app(scope, receive, send)
            return
        # Last in, first out: the thread used last has the freshest connection.
        executor = (
            self._idle.pop()
            if self._idle
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
        )
        sent = False

        async def send_noting_the_end(message: dict) -> None:
            nonlocal sent
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                sent = True

        try:
            async with _RequestContext(executor=executor):
                await self.app(scope, receive, send_noting_the_end)
            if not sent:
                # The client went away: Django stopped waiting for the view (or the body's
                # iterator), which may still be running. The thread is handed out again once
                # it has done what it was given; nobody waits for this.
                await asyncio.wrap_future(executor.submit(int))
        except BaseException:
            self._retire(executor)
            raise
        if len(self._idle) < self.keep_idle:
            self._idle.append(executor)
        else:
            self._retire(executor)

    def close(self) -> None:
        """End the idle threads, closing their database connections on them first."""
        while self._idle:
            self._retire(self._idle.pop(), wait=True)

    @staticmethod
    def _retire(executor: ThreadPoolExecutor, *, wait: bool = False) -> None:
        # Queued behind anything the thread still runs; a request does not wait for it.
        executor.submit(connections.close_all)
        executor.shutdown(wait=wait)


def get_asgi_application(
    *, background: Sequence[str] = (), on_shutdown: Sequence[str] = ()
) -> ReusedRequestThreads:
    """What django.core.asgi.get_asgi_application() gives, with the two changes above, and
    the server's lifespan: `background` and `on_shutdown` name coroutine functions by dotted
    path (imported once Django is set up)."""
    django.setup(set_prefix=False)
    return ReusedRequestThreads(
        SyncChainASGIHandler(),
        background=[import_string(path) for path in background],
        on_shutdown=[import_string(path) for path in on_shutdown],
    )
