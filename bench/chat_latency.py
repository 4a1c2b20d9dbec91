"""How much delay our stack adds to a streamed reply, with 20 chats streaming at once.

A loopback fake provider (tests/fakes/llm_server.py, OpenAI Chat Completions wire format)
runs in its own process and timestamps every token as it flushes it to the socket. Twenty
chats run an agent turn each, concurrently, through the real stack. The delay of a token is
the time between the provider flushing it and the client receiving it (both clocks are the
machine's monotonic clock, shared by its processes).

Two ways to receive the tokens (`--via`):

- `http` (the default): the app runs under uvicorn in its own process, as `make run` serves
  it, and each chat is a client of the chat page's Server-Sent Events endpoint
  (GET /chats/<id>/messages/<id>/stream/, signed in), reading the chunked HTTP response with a
  bare asyncio socket so the client adds next to nothing. In the middle of each reply
  (`--reconnect-at` tokens) the client drops the connection and opens the stream again, as a
  reloaded page does: the turn goes on detached on the server, and the new stream starts with
  the text so far; each token's delay counts from when the client first saw it. This is what
  a browser sees: view -> the turn, detached (apps/llm_chat/live.py) -> pydantic-ai -> openai
  SDK -> HTTP -> the page's events (with their periodic server-rendered Markdown) -> uvicorn
  -> socket.
- `events`: in this process, through run_turn's event stream only (no HTTP, no view).

    .venv/bin/python bench/chat_latency.py [--via http|events] [--chats 20] [--tokens 100]
                                           [--interval-ms 25] [--ramp-ms 1000]
                                           [--reconnect-at 50]

Prints p50, p99 and max in milliseconds; the target is p99 under 50 ms. Exits non-zero when
it is missed (or a token is lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_P99_MS = 50.0


def serve(connection, tokens: int, interval: float) -> None:
    """The provider process: stream `tokens` unique tokens per request, then report flush times."""
    from tests.fakes.llm_server import FakeLLMServer, Step

    def reply(body: dict):
        question = body["messages"][-1]["content"]
        chat = re.search(r"chat (\d+)", str(question)).group(1)
        return Step(text=[f"c{chat}t{i} " for i in range(tokens)])

    with FakeLLMServer("openai", default=reply, chunk_delay=interval) as server:
        connection.send(server.base_url)
        connection.recv()  # the bench is done
        connection.send(server.emitted)


def django_environment(workdir: Path) -> dict[str, str]:
    source = workdir / "source.sqlite3"
    if not source.exists():
        sqlite3.connect(source).execute("CREATE TABLE t (id INTEGER)").connection.close()
    return {
        "DATABASE_URL": f"sqlite:///{workdir / 'app.sqlite3'}",
        "DATA_SOURCES": f"marketplace=sqlite:///{source}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }


def set_up_django(workdir: Path) -> None:
    os.environ.update(django_environment(workdir))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_chats(base_url: str, count: int) -> tuple[list, str]:
    """`count` chats with a question each, and a signed-in session cookie for their owner."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from apps.llm_agent.models import Agent
    from apps.llm_chat.models import Chat, Message

    user = get_user_model().objects.create(username="bench")
    agent = Agent.objects.create(
        name="Bench agent",
        provider=Agent.Provider.OPENAI_COMPATIBLE,
        model_name="bench-model",
        base_url=base_url,
        data_source="marketplace",
    )
    pairs = []
    for number in range(count):
        chat = Chat.objects.create(title=f"Bench {number}", agent=agent, owner=user)
        question = Message.objects.create(
            chat=chat, role=Message.Role.USER, content=f"Stream for chat {number}"
        )
        pairs.append((chat, question))
    client = Client()
    client.force_login(user)
    return pairs, client.cookies["sessionid"].value


# --- Receiving through run_turn's events (in process) ------------------------------------------


async def consume_events(chat, question, received: dict[str, float], delay: float) -> str:
    from apps.llm_chat.agent import TextDelta, TurnFailed, run_turn

    await asyncio.sleep(delay)
    async for event in run_turn(chat, question):
        if isinstance(event, TextDelta):
            received[event.text.strip()] = time.perf_counter()
        elif isinstance(event, TurnFailed):
            return event.reason
    return ""


# --- Receiving through the page's SSE endpoint under uvicorn -----------------------------------


class Server:
    """uvicorn serving the app in a process of its own, as `make run` does."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, **django_environment(workdir)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("uvicorn did not start") from None
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def _body(reader: asyncio.StreamReader, chunked: bool):
    if not chunked:
        while piece := await reader.read(65536):
            yield piece
        return
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            return
        yield await reader.readexactly(size)
        await reader.readexactly(2)  # the CRLF after each chunk


async def consume_http(
    port: int,
    path: str,
    cookie: str,
    received: dict[str, float],
    delay: float,
    reconnect_at: int = 0,
) -> str:
    """Read the chat page's stream of one reply. With `reconnect_at`, drop the connection once
    that many tokens have arrived and open the stream again, as a reloaded page does: the turn
    goes on on the server meanwhile, and the new stream starts with the text so far."""
    await asyncio.sleep(delay)
    outcome = await _read_stream(port, path, cookie, received, stop_after=reconnect_at)
    if outcome == "reconnect":
        left = time.perf_counter()
        resumed: dict[str, float] = {}
        outcome = await _read_stream(port, path, cookie, resumed)
        RECONNECTS.append((min(resumed.values(), default=left) - left) * 1000)
        for token, at in resumed.items():
            received.setdefault(token, at)
    return outcome


# How long each reconnect took: from dropping the connection to the first text on the new one.
RECONNECTS: list[float] = []


async def _read_stream(
    port: int, path: str, cookie: str, received: dict[str, float], stop_after: int = 0
) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        f"Cookie: sessionid={cookie}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if status.split()[1] != b"200":
        return f"HTTP {status.decode().strip()}"
    buffer = b""
    outcome = "the stream ended without done or error"
    tokens = 0
    try:
        async for piece in _body(reader, headers.get("transfer-encoding") == "chunked"):
            arrived = time.perf_counter()  # before any parsing of ours
            buffer += piece
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                lines = block.decode().split("\n")
                if not lines[0].startswith("event: "):
                    continue  # a keep-alive comment
                data = json.loads(lines[1].removeprefix("data: "))
                if data["type"] == "text":
                    # A stream joined mid-reply starts with all the text so far in one event:
                    # each token counts from when the client first saw it.
                    for token in data["text"].split():
                        received.setdefault(token, arrived)
                    tokens += 1
                    if stop_after and tokens >= stop_after:
                        return "reconnect"
                elif data["type"] == "done":
                    outcome = ""
                elif data["type"] in {"error", "refused"}:
                    outcome = data.get("reason", data["type"])
    finally:
        writer.close()
    return outcome


# --- Both -----------------------------------------------------------------------------------


async def run_all(consume, pairs: list, ramp: float = 0.0) -> dict[str, float]:
    received: dict[str, float] = {}
    step = ramp / len(pairs)
    failures = await asyncio.gather(
        *(consume(chat, q, received, n * step) for n, (chat, q) in enumerate(pairs))
    )
    for failure in failures:
        if failure:
            raise SystemExit(f"A turn failed: {failure}")
    return received


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--via", choices=["http", "events"], default="http")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=100)
    # 25 ms is 40 tokens a second per chat: a fast hosted model; local ones are slower.
    parser.add_argument("--interval-ms", type=float, default=25.0)
    # People do not all press Send in the same millisecond: the chats start spread over this
    # window, and all of them are streaming at once after it. 0 starts them together.
    parser.add_argument("--ramp-ms", type=float, default=1000.0)
    # Each chat drops its connection after this many tokens and opens the stream again (a
    # reload mid-reply; the turn goes on on the server). 0 reads each stream in one go.
    parser.add_argument("--reconnect-at", type=int, default=50)
    args = parser.parse_args()

    # The provider gets its own process (forked before Django and any thread starts), so
    # it does not compete with our stack for the interpreter lock.
    ours, theirs = multiprocessing.Pipe()
    provider = multiprocessing.get_context("fork").Process(
        target=serve, args=(theirs, args.tokens, args.interval_ms / 1000), daemon=True
    )
    provider.start()
    base_url = ours.recv()

    with tempfile.TemporaryDirectory() as workdir:
        set_up_django(Path(workdir))
        pairs, cookie = make_chats(base_url, args.chats + 1)
        warm_up, pairs = pairs[:1], pairs[1:]
        server = None
        if args.via == "http":
            server = Server(Path(workdir))

            async def consume(chat, question, received, delay):
                path = f"/chats/{chat.pk}/messages/{question.pk}/stream/"
                return await consume_http(
                    server.port, path, cookie, received, delay, args.reconnect_at
                )

            cpu = server.cpu_seconds
        else:
            # The same process settings as the server's (model SDKs imported, startup objects
            # frozen out of the garbage collector's way): see config/asgi.py.
            import config.asgi  # noqa: F401

            consume, cpu = consume_events, time.process_time
        try:
            asyncio.run(run_all(consume, warm_up))  # imports, first connection
            RECONNECTS.clear()
            started, cpu_started = time.perf_counter(), cpu()
            received = asyncio.run(run_all(consume, pairs, args.ramp_ms / 1000))
            elapsed = time.perf_counter() - started
            cpu_used = cpu() - cpu_started
        finally:
            if server is not None:
                server.stop()
    ours.send("done")
    emitted = dict((text.strip(), at) for text, at in ours.recv())
    provider.join(timeout=5)

    prefix = tuple(f"c{number}t" for number in range(1, args.chats + 1))
    by_position: dict[int, list[float]] = {}
    for token, at in emitted.items():
        if token.startswith(prefix) and token in received:
            position = int(token.rsplit("t", 1)[1])
            by_position.setdefault(position, []).append((received[token] - at) * 1000)
    delays = [delay for values in by_position.values() for delay in values]
    first = by_position.get(0, [0.0])
    expected = args.chats * args.tokens
    p50, p99 = percentile(delays, 0.50), percentile(delays, 0.99)
    if args.via == "http":
        print(
            "Measured through HTTP: the chat page's SSE endpoint under uvicorn (its own "
            "process), read by a bare asyncio client."
        )
        if args.reconnect_at:
            print(
                f"Each chat reconnects after {args.reconnect_at} tokens (a reload mid-reply); "
                "a token counts from when the client first saw it."
            )
        whose = "the uvicorn process"
    else:
        print("Measured through run_turn's event stream, in process (no HTTP).")
        whose = "our process"
    print(
        f"{args.chats} concurrent chats (started over {args.ramp_ms:g} ms) x {args.tokens} "
        f"tokens, one token every {args.interval_ms:g} ms per chat; "
        f"{len(delays)}/{expected} tokens matched in {elapsed:.2f} s"
    )
    print(
        f"delay added by our stack: p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
        f"max {max(delays):.2f} ms  mean {statistics.fmean(delays):.2f} ms"
    )
    if RECONNECTS:
        print(
            f"reconnects, from the dropped connection to the text so far on the new one: "
            f"p50 {percentile(RECONNECTS, 0.5):.2f} ms  max {max(RECONNECTS):.2f} ms "
            f"({len(RECONNECTS)} of them)"
        )
    print(
        f"first token of each reply (other turns may be starting meanwhile): "
        f"p50 {percentile(first, 0.5):.2f} ms  max {max(first):.2f} ms"
    )
    print(
        f"{whose} used {cpu_used:.2f} s of CPU ({cpu_used / expected * 1000:.3f} ms a token); "
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
    print(f"p99 {verdict} the target of {TARGET_P99_MS:g} ms")
    if len(delays) != expected:
        raise SystemExit("Some tokens were lost or not matched.")
    if p99 >= TARGET_P99_MS:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
