"""The chat page's reply stream: Server-Sent Events from an async view, under ASGI.

The agent row points at a loopback fake provider (tests/fakes/llm_server.py) speaking the
OpenAI wire format, so the whole stack runs: view -> run_turn -> pydantic-ai -> openai SDK ->
HTTP. Requests go through Django's AsyncClient, or straight to the ASGI application when the
test needs to play the browser going away.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from apps.llm_agent.models import ModelCall
from apps.llm_agent.providers import PUBLIC_PROVIDER_FAILED, PUBLIC_UNREACHABLE
from apps.llm_chat import live, views
from apps.llm_chat.agent import TextDelta, runner
from apps.llm_chat.models import INTERRUPTED, Message
from apps.llm_chat.services import post_user_message
from tests.fakes.llm_server import HTTPError, Stall, call, say
from tests.llm_chat.factories import ChatFactory, MessageFactory

TOP_SQL = (
    "SELECT c.name, SUM(o.total) AS revenue FROM orders o "
    "JOIN categories c ON c.id = o.category_id GROUP BY c.name ORDER BY revenue DESC"
)
SSE = {"Accept": "text/event-stream"}


def stream_url(chat, message) -> str:
    return reverse("llm_chat:message_stream", args=[chat.pk, message.pk])


def reply_url(chat, message) -> str:
    return reverse("llm_chat:message_reply", args=[chat.pk, message.pk])


def parse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


def request(user, method: str, url: str, **kwargs):
    """An AsyncClient request, its streamed body read to the end: (response, body)."""

    async def go():
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        response = await getattr(client, method)(url, **kwargs)
        if response.streaming:
            body = b"".join([chunk async for chunk in response.streaming_content])
        else:
            body = response.content
        return response, body.decode()

    return async_to_sync(go)()


def stream(user, chat, message):
    response, body = request(user, "get", stream_url(chat, message))
    assert response.status_code == 200, body
    return response, parse_events(body)


def types(events) -> list[str]:
    return [name for name, _ in events]


# --- A whole turn, streamed ------------------------------------------------------------------


def test_stream_carries_tools_the_artifact_card_text_and_the_final_message(chat, owner, server):
    server.queue(
        call("list_tables", {}),
        call("run_sql", {"sql": TOP_SQL}),
        call("save_artifact", {"title": "Revenue by category", "sql": TOP_SQL}),
        say("**Games** ", "lead with ", "105."),
    )
    question = post_user_message(chat, content="Which category earns most?")

    response, events = stream(owner, chat, question)

    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    reply = Message.objects.get(reply_to=question)
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == "**Games** lead with 105."

    assert events[0] == (
        "start",
        {"type": "start", "user_message_id": question.pk, "message_id": reply.pk},
    )
    labels = [(data["label"], data["state"]) for name, data in events if name == "tool"]
    assert labels == [
        ("Listing tables", "started"),
        ("Listing tables", "done"),
        ("Running SQL", "started"),
        ("Ran SQL (3 rows)", "done"),
        ("Saving artifact “Revenue by category”", "started"),
        ("Saved artifact “Revenue by category”", "done"),
    ]
    [(_, card)] = [e for e in events if e[0] == "artifact"]
    assert card["action"] == "created" and card["title"] == "Revenue by category"
    # The card's id is the one it keeps in the final message: one per message.
    assert f'id="artifact-card-{card["artifact_id"]}-{reply.pk}"' in card["html"]
    assert "Revenue by category" in card["html"]
    # The card arrives before the text that follows the tool calls.
    assert types(events).index("artifact") < types(events).index("text")
    assert "".join(data["text"] for name, data in events if name == "text") == reply.content

    name, done = events[-1]
    assert name == "done"
    assert done["message_id"] == reply.pk
    assert done["input_tokens"] == 80 and done["output_tokens"] == 40
    assert done["html"].lstrip().startswith(f'<article id="message-{reply.pk}"')
    assert "<strong>Games</strong> lead with 105." in done["html"]
    assert f'id="artifact-card-{card["artifact_id"]}-{reply.pk}"' in done["html"]


def test_markdown_so_far_is_sent_rendered_and_sanitised(chat, owner, server, monkeypatch):
    monkeypatch.setattr(views, "MARKDOWN_REFRESH_SECONDS", 0)
    server.queue(say("<script>alert(1)</script> ", "[x](javascript:alert(1)) ", "**bold**"))
    question = post_user_message(chat, content="Hi")

    _, events = stream(owner, chat, question)

    texts = [data for name, data in events if name == "text"]
    # Raw text for textContent, and the server's sanitised Markdown of everything so far.
    assert [t["text"] for t in texts] == [
        "<script>alert(1)</script> ",
        "[x](javascript:alert(1)) ",
        "**bold**",
    ]
    assert texts[-1]["html"] == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; [x](javascript:alert(1)) "
        "<strong>bold</strong></p>\n"
    )
    html = events[-1][1]["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_markdown_is_refreshed_at_most_so_often(chat, owner, server, monkeypatch):
    monkeypatch.setattr(views, "MARKDOWN_REFRESH_SECONDS", 3600)
    server.queue(say("a ", "b ", "c"))
    question = post_user_message(chat, content="Hi")
    _, events = stream(owner, chat, question)
    assert not [data for name, data in events if name == "text" and "html" in data]


def test_a_question_with_a_reply_is_not_answered_again(chat, owner, server):
    question = post_user_message(chat, content="Hi")
    reply = MessageFactory(
        chat=chat, role="assistant", content="Already *answered*.", reply_to=question
    )

    _, events = stream(owner, chat, question)

    [(name, refused)] = events
    assert name == "refused"
    assert refused["reason"] == "This message already has a reply."
    assert refused["html"].lstrip().startswith(f'<article id="message-{reply.pk}"')
    assert "<em>answered</em>" in refused["html"]
    assert server.requests == [] and not ModelCall.objects.exists()


def test_no_provider_reachable_tells_the_user_to_ask_and_keeps_the_question(owner, shop):
    chat = ChatFactory(owner=owner)  # the factory's agent points at 127.0.0.1:9: nothing there
    question = post_user_message(chat, content="Top categories?")

    _, events = stream(owner, chat, question)

    assert types(events) == ["start", "error"]
    error = events[-1][1]
    assert error["reason"].startswith(PUBLIC_UNREACHABLE)
    assert "127.0.0.1:9" not in error["reason"] and "README" not in error["reason"]
    assert "chat-error" in error["html"] and "Retry" in error["html"]
    assert f'action="{reply_url(chat, question)}"' in error["html"]
    assert Message.objects.get(pk=question.pk).content == "Top categories?"
    reply = Message.objects.get(reply_to=question)
    assert (reply.status, reply.error) == ("error", error["reason"])


def test_provider_failure_keeps_the_partial_text_and_offers_retry(chat, owner, server):
    server.queue(HTTPError(500), HTTPError(500))
    question = post_user_message(chat, content="Hi")

    _, events = stream(owner, chat, question)

    assert types(events) == ["start", "error"]
    assert events[-1][1]["reason"].startswith(PUBLIC_PROVIDER_FAILED)
    assert "failed (HTTP 500)" in ModelCall.objects.get(outcome="error").error
    assert Message.objects.get(reply_to=question).status == "error"


# --- Retry -----------------------------------------------------------------------------------


def failed_turn(chat):
    question = post_user_message(chat, content="Top categories?")
    reply = MessageFactory(
        chat=chat,
        role="assistant",
        status="error",
        error="The model server failed.",
        content="Partial",
        reply_to=question,
    )
    return question, reply


def test_retry_streams_into_the_same_reply(chat, owner, server):
    question, reply = failed_turn(chat)
    server.queue(say("Games ", "lead."))

    response, body = request(owner, "post", reply_url(chat, question), headers=SSE)

    assert response.status_code == 200
    events = parse_events(body)
    assert events[0][1]["message_id"] == reply.pk
    assert types(events)[-1] == "done"
    reply.refresh_from_db()
    assert (reply.status, reply.content, reply.error) == ("complete", "Games lead.", "")
    assert Message.objects.filter(role="assistant").count() == 1


def test_retry_without_javascript_waits_and_redirects_to_the_reply(chat, owner, server):
    question, reply = failed_turn(chat)
    server.queue(say("Games lead."))

    response, _ = request(owner, "post", reply_url(chat, question))

    assert response.status_code == 302
    assert response.url == f"{chat.get_absolute_url()}#message-{reply.pk}"
    reply.refresh_from_db()
    assert (reply.status, reply.content) == ("complete", "Games lead.")


def test_retry_answers_a_question_that_never_got_a_reply(chat, owner, server):
    question = post_user_message(chat, content="Hi")
    server.queue(say("Hello."))
    response, _ = request(owner, "post", reply_url(chat, question))
    reply = Message.objects.get(reply_to=question)
    assert response.url.endswith(f"#message-{reply.pk}")
    assert reply.content == "Hello."


def test_retry_of_a_complete_reply_is_refused(chat, owner, server):
    question = post_user_message(chat, content="Hi")
    reply = MessageFactory(chat=chat, role="assistant", content="Done.", reply_to=question)

    plain, _ = request(owner, "post", reply_url(chat, question))
    streamed, body = request(owner, "post", reply_url(chat, question), headers=SSE)

    assert streamed.status_code == 200
    assert plain.status_code == 302 and plain.url.endswith(f"#message-{reply.pk}")
    [(name, refused)] = parse_events(body)
    assert name == "refused" and refused["reason"] == "This message already has a reply."
    assert server.requests == []
    reply.refresh_from_db()
    assert reply.content == "Done."


def test_the_page_offers_retry_only_to_the_owner_of_a_failed_reply(chat, owner, staff, client):
    question, _ = failed_turn(chat)
    client.force_login(owner)
    page = client.get(chat.get_absolute_url()).content.decode()
    assert f'action="{reply_url(chat, question)}"' in page
    assert "The model server failed." in page and "Partial" in page
    client.force_login(staff)
    page = client.get(chat.get_absolute_url()).content.decode()
    assert "The model server failed." in page
    assert f'action="{reply_url(chat, question)}"' not in page


# --- Who may stream --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_other_user_gets_404(chat, other_user, server, method):
    question = post_user_message(chat, content="Hi")
    url = stream_url(chat, question) if method == "get" else reply_url(chat, question)
    response, _ = request(other_user, method, url, headers=SSE)
    assert response.status_code == 404
    assert not Message.objects.filter(reply_to=question).exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_staff_read_but_cannot_start_a_turn_in_someone_elses_chat(chat, staff, server, method):
    question = post_user_message(chat, content="Hi")
    url = stream_url(chat, question) if method == "get" else reply_url(chat, question)
    response, _ = request(staff, method, url, headers=SSE)
    assert response.status_code == 403
    assert server.requests == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_sent_to_sign_in(chat, server, method):
    question = post_user_message(chat, content="Hi")
    url = stream_url(chat, question) if method == "get" else reply_url(chat, question)
    response, _ = request(None, method, url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_only_questions_of_the_chat_can_be_streamed(chat, owner, server):
    question = post_user_message(chat, content="Hi")
    answer = MessageFactory(chat=chat, role="assistant", reply_to=question)
    elsewhere = MessageFactory(chat=ChatFactory(owner=owner))
    for message in (answer, elsewhere):
        response, _ = request(owner, "get", stream_url(chat, message))
        assert response.status_code == 404


def test_stream_is_get_only_and_reply_post_only(chat, owner, server):
    question = post_user_message(chat, content="Hi")
    assert request(owner, "post", stream_url(chat, question))[0].status_code == 405
    assert request(owner, "get", reply_url(chat, question))[0].status_code == 405


# --- The browser going away ------------------------------------------------------------------


def asgi_scope(client, owner, path: str) -> dict:
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
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
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def settled(question) -> Message:
    """The reply once it has left `pending`: the turn goes on detached from the stream, in
    its own task, which must finish before this test's event loop closes."""
    for _ in range(1000):
        reply = await Message.objects.filter(reply_to=question).afirst()
        if reply is not None and reply.status != Message.Status.PENDING:
            turn = live.running(question.pk)
            if turn is not None and turn.task is not None:
                await asyncio.wait_for(asyncio.shield(turn.task), 10)
            return reply
        await asyncio.sleep(0.01)
    raise AssertionError("the reply is still pending")


def test_a_reply_goes_on_when_the_browser_goes_away(
    chat, owner, client, server, keep_db_connection_open
):
    from config.asgi import application

    server.queue(say("Partial ", "answer ", "that ", "never ", "ends"))
    server.chunk_delay = 0.3
    question = post_user_message(chat, content="Tell me")
    scope = asgi_scope(client, owner, stream_url(chat, question))

    async def leave_after_first_text() -> None:
        inbox: asyncio.Queue = asyncio.Queue()
        outbox: asyncio.Queue = asyncio.Queue()
        await inbox.put({"type": "http.request", "body": b"", "more_body": False})
        # Run in this context (not a fresh one, as asgiref's ApplicationCommunicator does), so
        # the app's database work runs on the test's thread and sees its transaction.
        app = asyncio.ensure_future(application(scope, inbox.get, outbox.put))
        start = await asyncio.wait_for(outbox.get(), 10)
        assert start["status"] == 200
        received = b""
        while b"event: text" not in received:
            received += (await asyncio.wait_for(outbox.get(), 10))["body"]
        await inbox.put({"type": "http.disconnect"})
        await asyncio.wait_for(app, 10)
        await settled(question)

    async_to_sync(leave_after_first_text)()

    reply = Message.objects.get(reply_to=question)
    assert (reply.status, reply.error) == (Message.Status.COMPLETE, "")
    assert reply.content == "Partial answer that never ends"


def test_a_reply_goes_on_when_the_browser_stops_reading(
    chat, owner, client, server, keep_db_connection_open
):
    """The disconnect lands while the server waits on the socket, not on the turn: Django
    never resumes the response's iterator; the reading ends, the turn does not."""
    from config.asgi import application

    server.queue(say("Partial ", "answer ", "that ", "never ", "ends"))
    server.chunk_delay = 0.3
    question = post_user_message(chat, content="Tell me")
    scope = asgi_scope(client, owner, stream_url(chat, question))

    async def stop_reading() -> None:
        disconnected = asyncio.Event()
        first_text = asyncio.Event()
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if b"event: text" in message.get("body", b""):
                first_text.set()
                await asyncio.Event().wait()  # a full socket buffer: this never returns

        app = asyncio.ensure_future(application(scope, receive, send))
        await asyncio.wait_for(first_text.wait(), 10)
        disconnected.set()
        await asyncio.wait_for(app, 10)
        await settled(question)

    async_to_sync(stop_reading)()

    reply = Message.objects.get(reply_to=question)
    assert (reply.status, reply.error) == (Message.Status.COMPLETE, "")
    assert reply.content == "Partial answer that never ends"


def test_a_silent_provider_gets_keep_alive_comments(chat, owner, server, monkeypatch, settings):
    monkeypatch.setattr("apps.llm_chat.streams.KEEP_ALIVE_SECONDS", 0.05)
    # The first request stalls past the timeout; the SDK's retry gets the answer.
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 0.3
    settings.LLM_MAX_RETRIES = 1
    server.queue(Stall(1.0), say("Late."))
    question = post_user_message(chat, content="Hi")

    _, body = request(owner, "get", stream_url(chat, question))

    assert ": keep-alive\n\n" in body
    assert parse_events(body)[-1][0] == "done"


# --- Stop ------------------------------------------------------------------------------------


def test_stop_ends_the_running_turn_keeping_the_text(chat, owner, server):
    server.queue(say("Kept ", "so ", "far. ", *(["Never. "] * 40)))
    server.chunk_delay = 0.1
    question = post_user_message(chat, content="A long answer, please.")

    async def go():
        client = AsyncClient()
        await client.aforce_login(owner)
        response = await client.get(stream_url(chat, question))
        body, stopped = "", None
        async for chunk in response.streaming_content:
            body += chunk.decode()
            if stopped is None and "far. " in body:
                reply_pk = parse_events(body.rsplit("\n\n", 1)[0] + "\n\n")[0][1]["message_id"]
                url = reverse("llm_chat:message_stop", args=[chat.pk, reply_pk])
                stopped = await client.post(url, headers={"Accept": "application/json"})
        return stopped, parse_events(body)

    stopped, events = async_to_sync(go)()

    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopping"
    reply = Message.objects.get(reply_to=question)
    assert reply.status == Message.Status.STOPPED
    assert reply.content.startswith("Kept so far.") and "Never. " * 40 not in reply.content
    name, last = events[-1]
    assert name == "stopped" and last["message_id"] == reply.pk
    assert "Stopped" in last["html"] and "Kept so far." in last["html"]
    assert reply.content_html.startswith("<p>Kept so far.")


def test_stop_pressed_in_another_process_ends_the_turn_keeping_the_text(
    chat, owner, server, monkeypatch
):
    """No fast path: the flag in the database is all the writer gets, as from another process."""
    monkeypatch.setattr(runner, "STOP_CHECK_SECONDS", 0.05)
    server.queue(say("Kept ", "so ", "far. ", *(["Never. "] * 40)))
    server.chunk_delay = 0.1
    question = post_user_message(chat, content="A long answer, please.")

    async def go():
        client = AsyncClient()
        await client.aforce_login(owner)
        response = await client.get(stream_url(chat, question))
        body, asked = "", False
        async for chunk in response.streaming_content:
            body += chunk.decode()
            if not asked and "far. " in body:
                reply = await Message.objects.aget(reply_to=question)
                asked = await sync_to_async(reply.request_stop)()
        return parse_events(body)

    events = async_to_sync(go)()

    reply = Message.objects.get(reply_to=question)
    assert reply.status == Message.Status.STOPPED
    assert reply.content.startswith("Kept so far.") and "Never. " * 40 not in reply.content
    assert events[-1][0] == "stopped" and "Kept so far." in events[-1][1]["html"]


# --- Following a reply being written ---------------------------------------------------------


def test_a_second_connection_follows_the_reply_from_where_it_is(chat, owner, server):
    words = [f"w{n} " for n in range(12)]
    server.queue(say(*words))
    server.chunk_delay = 0.1
    question = post_user_message(chat, content="Count for me.")

    async def go():
        first, second = AsyncClient(), AsyncClient()
        await first.aforce_login(owner)
        await second.aforce_login(owner)
        response = await first.get(stream_url(chat, question))
        chunks = aiter(response.streaming_content)
        body = ""
        while "w3 " not in body:
            body += (await anext(chunks)).decode()
        # A reload: another connection, while the first still reads.
        joined = await second.get(stream_url(chat, question))
        joined_body = b"".join([chunk async for chunk in joined.streaming_content]).decode()
        body += b"".join([chunk async for chunk in chunks]).decode()
        return parse_events(body), parse_events(joined_body)

    events, joined = async_to_sync(go)()

    reply = Message.objects.get(reply_to=question)
    assert reply.status == Message.Status.COMPLETE and reply.content == "".join(words)
    assert Message.objects.filter(role="assistant").count() == 1  # one turn, two readers
    assert server.requests and len(server.requests) == 1
    for stream_events in (events, joined):
        assert stream_events[0] == (
            "start",
            {"type": "start", "user_message_id": question.pk, "message_id": reply.pk},
        )
        texts = [data["text"] for name, data in stream_events if name == "text"]
        assert "".join(texts) == reply.content
        assert stream_events[-1][0] == "done" and "w11" in stream_events[-1][1]["html"]
    # The late reader got what was written so far in one piece, rendered, then the rest.
    so_far = joined[1][1]
    assert so_far["text"].startswith("w0 w1 w2 w3 ") and "html" in so_far
    assert so_far["html"].startswith("<p>w0 w1 w2 w3")


def test_a_reply_written_by_another_process_is_tailed_from_the_database(
    chat, owner, server, monkeypatch
):
    monkeypatch.setattr(live, "TAIL_POLL_SECONDS", 0.02)
    question = post_user_message(chat, content="Hello?")
    reply = question.start_reply()  # leased to a writer elsewhere: no turn in this process
    Message.objects.filter(pk=reply.pk).update(content="Hal")

    async def go():
        client = AsyncClient()
        await client.aforce_login(owner)
        response = await client.get(stream_url(chat, question))
        chunks = aiter(response.streaming_content)
        body = (await anext(chunks)).decode()

        async def the_other_writer():
            await asyncio.sleep(0.1)
            await Message.objects.filter(pk=reply.pk).aupdate(content="Half an")
            await asyncio.sleep(0.1)
            await sync_to_async(reply.finish)("Half an *answer*.", [], tokens=(3, 4))

        writer = asyncio.create_task(the_other_writer())
        body += b"".join([chunk async for chunk in chunks]).decode()
        await writer
        return parse_events(body)

    events = async_to_sync(go)()

    assert events[0][1]["message_id"] == reply.pk
    texts = [data for name, data in events if name == "text"]
    assert texts[0]["text"] == "Hal" and texts[0]["html"] == "<p>Hal</p>\n"
    assert "".join(t["text"] for t in texts) == "Half an *answer*."
    name, done = events[-1]
    assert name == "done" and (done["input_tokens"], done["output_tokens"]) == (3, 4)
    assert "<em>answer</em>" in done["html"]
    assert server.requests == []  # nothing asked the model again


def test_a_reply_whose_writer_died_streams_as_interrupted_with_retry(chat, owner, server):
    question = post_user_message(chat, content="Hello?")
    reply = question.start_reply()
    Message.objects.filter(pk=reply.pk).update(
        content="Half", lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    _, events = stream(owner, chat, question)

    [(name, refused)] = events
    assert name == "refused"
    assert "interrupted" in refused["html"] and "Retry" in refused["html"]
    reply.refresh_from_db()
    assert (reply.status, reply.content) == ("error", "Half")
    # Retry works at once.
    server.queue(say("Whole."))
    _, body = request(owner, "post", reply_url(chat, question), headers=SSE)
    assert parse_events(body)[-1][0] == "done"
    reply.refresh_from_db()
    assert (reply.status, reply.content) == ("complete", "Whole.")


def test_a_server_shutting_down_ends_its_turns_marked_interrupted(chat, server):
    server.queue(say("Partial ", *(["more "] * 40)))
    server.chunk_delay = 0.1
    question = post_user_message(chat, content="Tell me")

    async def shut_down_mid_reply() -> None:
        turn = live.start(chat, question, retry=False)
        async with contextlib.aclosing(turn.subscribe()) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        await live.stop_all()
        assert turn.ended and live.running(question.pk) is None

    async_to_sync(shut_down_mid_reply)()

    reply = Message.objects.get(reply_to=question)
    assert (reply.status, reply.error) == (Message.Status.ERROR, INTERRUPTED)
    assert reply.content.startswith("Partial ") and reply.is_retryable


def test_a_turn_whose_reply_was_taken_from_it_stops_and_overwrites_nothing(
    chat, owner, server, monkeypatch
):
    """Taken for dead (a database stall outlasting its lease) and retried elsewhere: the old
    writer notices at its next heartbeat and ends without writing."""
    monkeypatch.setattr(runner, "STOP_CHECK_SECONDS", 0.05)
    server.queue(say("Old ", *(["writer "] * 40)))
    server.chunk_delay = 0.1
    question = post_user_message(chat, content="Tell me")

    async def take_over() -> list:
        turn = live.start(chat, question, retry=False)
        seen = []
        async with contextlib.aclosing(turn.subscribe()) as events:
            async for event in events:
                seen.append(event)
                if len(seen) == 2:  # started, then the first text
                    await Message.objects.filter(reply_to=question).aupdate(
                        lease_owner="elsewhere:1:new", content="The new writer's"
                    )
        await asyncio.wait({turn.task}, timeout=10)
        return seen

    seen = async_to_sync(take_over)()

    # It stopped well before the end of its 41 pieces, with no outcome of its own.
    assert len(seen) < 20
    assert not any(event.type in {"done", "error", "stopped"} for event in seen)
    reply = Message.objects.get(reply_to=question)
    assert (reply.status, reply.content) == ("pending", "The new writer's")
    assert reply.lease_owner == "elsewhere:1:new"


def test_detached_turns_reuse_their_threads_and_retire_the_extra_ones():
    threads = live._TurnThreads(keep_idle=1)
    first = threads.take()
    threads.give_back(first)
    assert threads.take() is first  # its database connection serves the next turn
    second = threads.take()
    assert second is not first
    threads.give_back(first)
    threads.give_back(second)  # one more than it keeps: its connections close, it ends
    assert threads.take() is first
    with pytest.raises(RuntimeError):
        second.submit(int)  # shut down
    first.shutdown()
