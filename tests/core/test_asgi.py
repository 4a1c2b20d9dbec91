"""Under ASGI a request's thread, and its database connection, serve the next request too
(apps/core/asgi.py, CONN_MAX_AGE in settings)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
from django.core.asgi import get_asgi_application as django_asgi_application
from django.db.backends.signals import connection_created

from apps.core.asgi import ReusedRequestThreads, SyncChainASGIHandler
from tests.llm_artifact.factories import ArtifactFactory


def scope_for(client, user, path: str) -> dict:
    client.force_login(user)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def serve(
    app, scope: dict, times: int, *, at_once: bool = False
) -> tuple[list[tuple[int, bytes]], int]:
    """`times` requests one after the other (or all at once), on an event loop in a thread
    of its own, as uvicorn serves (async_to_sync would run them on the test's thread).
    Returns each answer's status and body, and how many database connections were opened
    meanwhile."""
    answers: list[tuple[int, bytes]] = []
    opened: list[object] = []

    def count(sender, connection, **kwargs) -> None:
        opened.append(connection)

    async def one() -> tuple[int, bytes]:
        sent: list[dict] = []
        requested = False

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    async def all_of_them() -> None:
        if at_once:
            answers.extend(await asyncio.gather(*(one() for _ in range(times))))
            return
        for _ in range(times):
            answers.append(await one())

    connection_created.connect(count)
    try:
        loop_thread = threading.Thread(target=asyncio.run, args=(all_of_them(),))
        loop_thread.start()
        loop_thread.join(60)
    finally:
        connection_created.disconnect(count)
    return answers, len(opened)


@pytest.mark.django_db(transaction=True)
def test_requests_in_turn_share_one_database_connection(client, owner):
    ArtifactFactory(owner=owner, title="Revenue by month")
    app = ReusedRequestThreads(SyncChainASGIHandler())
    try:
        answers, opened = serve(app, scope_for(client, owner, "/api/artifacts/"), times=10)
    finally:
        app.close()
    assert [status for status, _ in answers] == [200] * 10
    assert all(b"Revenue by month" in body for _, body in answers)
    assert opened == 1


@pytest.mark.django_db(transaction=True)
def test_requests_at_once_each_get_a_thread_and_the_pool_stays_bounded(client, owner):
    ArtifactFactory(owner=owner, title="Revenue by month")
    app = ReusedRequestThreads(SyncChainASGIHandler(), keep_idle=2)
    try:
        scope = scope_for(client, owner, "/api/artifacts/")
        answers, opened = serve(app, scope, times=4, at_once=True)
        assert [status for status, _ in answers] == [200] * 4
        assert 1 <= opened <= 4
        # Two threads stay, with their connections; the next requests use them.
        answers, opened = serve(app, scope, times=2, at_once=True)
        assert [status for status, _ in answers] == [200] * 2
        assert opened == 0
    finally:
        app.close()


@pytest.mark.django_db(transaction=True)
def test_without_reused_threads_each_request_connects(client, owner):
    # What apps/core/asgi.py is for: Django's own handler starts a thread per request, so
    # a persistent connection is never met again.
    answers, opened = serve(
        django_asgi_application(), scope_for(client, owner, "/api/artifacts/"), times=3
    )
    assert [status for status, _ in answers] == [200] * 3
    assert opened == 3


def test_the_lifespan_runs_background_work_until_shutdown_then_the_shutdown_steps():
    happened: list[str] = []

    async def background() -> None:
        happened.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            happened.append("cancelled")
            raise

    async def on_shutdown() -> None:
        happened.append("shutdown step")

    app = ReusedRequestThreads(
        SyncChainASGIHandler(), background=[background], on_shutdown=[on_shutdown]
    )

    async def lifespan() -> list[str]:
        inbox: asyncio.Queue = asyncio.Queue()
        sent: list[str] = []

        async def send(message: dict) -> None:
            sent.append(message["type"])

        server = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        while "lifespan.startup.complete" not in sent:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        assert happened == ["started"]
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(server, 5)
        return sent

    # On a thread of its own, as uvicorn runs it: the test's thread may already have a running
    # loop (Playwright's sync API keeps one there while the browser tests' browser is open).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        sent = pool.submit(asyncio.run, lifespan()).result(timeout=30)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert happened == ["started", "cancelled", "shutdown step"]
