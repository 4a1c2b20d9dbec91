"""Replies across web processes, end to end.

- The web server killed with SIGKILL while ten replies stream: after a restart every reply is,
  within seconds, marked interrupted with what was written, Retry works at once, and no
  question is lost. (A reply whose writer died on another machine waits for its lease to lapse
  instead: tests/llm_chat/test_reply_lease.py.)
- Two web processes: the reply one writes is followed from the other, and stopped from it.

The app runs under uvicorn in processes of its own (as `make run` serves it) on a SQLite app
database in a temporary directory (the crash also on PostgreSQL, with TEST_POSTGRES_URL); the
agent talks to the scripted provider on loopback, which writes slowly enough to kill the
server mid-reply.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apps.llm_chat.live import SWEEP_SECONDS
from apps.llm_chat.models import INTERRUPTED, LEASE_SECONDS
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import FakeLLMServer, Step

ROOT = Path(__file__).resolve().parents[2]
REPLIES = 10
WORDS = 200

SEED = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from apps.llm_agent.models import Agent
from apps.llm_chat.models import Chat
from apps.llm_chat.services import post_user_message

user = get_user_model().objects.create_user("crash", password="unused-password-1")
agent = Agent.objects.create(
    name="Crash agent", provider=Agent.Provider.OPENAI_COMPATIBLE, model_name="fake",
    base_url=BASE_URL, data_source="marketplace",
)
pairs = []
for number in range(COUNT):
    chat = Chat.objects.create(title=f"Crash {number}", agent=agent, owner=user)
    pairs.append([chat.pk, post_user_message(chat, content=f"Question {number}").pk])
client = Client()
client.force_login(user)
print(json.dumps({"pairs": pairs, "session": client.cookies["sessionid"].value}))
"""


class Uvicorn:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [
                *[sys.executable, "-m", "uvicorn", "config.asgi:application"],
                *["--host", "127.0.0.1", "--port", str(port)],
                *["--log-level", "warning", "--no-access-log"],
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown, no clean-up
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query(database: str, sql: str) -> list[tuple]:
    """Rows of the app database of the servers under test (a SQLite path or a PostgreSQL DSN)."""
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database) as connection:
            return connection.execute(sql).fetchall()
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def replies(database: str) -> list[tuple[str, str, str]]:
    return query(
        database,
        "SELECT status, content, error FROM llm_chat_message WHERE role = 'assistant' ORDER BY id",
    )


def read_until_text(port: int, path: str, cookie: str, got_text: threading.Event) -> None:
    """A browser reading the stream: it sees text arrive, then the server dies under it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Accept": "text/event-stream", "Cookie": cookie})
        response = connection.getresponse()
        while line := response.readline():
            if line == b"event: text\n":
                got_text.set()
    except (OSError, http.client.HTTPException):
        pass  # the server was killed
    finally:
        connection.close()


def request(port: int, method: str, path: str, headers: dict) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def stack(request, tmp_path):
    """The scripted provider, a migrated app database with REPLIES questions, and the
    environment to serve it: on SQLite, or (parametrized) on PostgreSQL."""
    if getattr(request, "param", "sqlite") == "postgres":
        database = request.getfixturevalue("postgres_database")
        database_url = database
    else:
        database = str(tmp_path / "app.sqlite3")
        database_url = f"sqlite:///{database}"

    def reply(body: dict) -> Step:
        return Step(text=[f"word{n} " for n in range(WORDS)])

    with FakeLLMServer("openai", default=reply, chunk_delay=0.1) as provider:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DATA_SOURCES": f"marketplace=sqlite:///{build_shop(tmp_path / 'shop.sqlite3')}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
            # Static files from the finders: nothing collected here (tests/conftest.py).
            "DJANGO_DEBUG": "1",
        }
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        seed = SEED.replace("BASE_URL", repr(provider.base_url)).replace("COUNT", str(REPLIES))
        made = subprocess.run(
            [*manage, "shell", "-c", seed], cwd=ROOT, env=env, check=True, capture_output=True
        )
        seeded = json.loads(made.stdout.decode().splitlines()[-1])
        yield provider, env, database, seeded


@pytest.mark.parametrize(
    "stack", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_killed_server_leaves_every_reply_retryable_within_seconds(stack):
    provider, env, database, seeded = stack
    port = free_port()
    cookie = f"sessionid={seeded['session']}"
    server = Uvicorn(env, port)
    try:
        readers, texts = [], []
        for chat, question in seeded["pairs"]:
            got_text = threading.Event()
            path = f"/chats/{chat}/messages/{question}/stream/"
            reader = threading.Thread(target=read_until_text, args=(port, path, cookie, got_text))
            reader.start()
            readers.append(reader)
            texts.append(got_text)
        for got_text in texts:
            assert got_text.wait(30), "a reply never started streaming"
        time.sleep(1.0)  # the replies' text is saved every half second
        assert [status for status, _, _ in replies(database)] == ["pending"] * REPLIES

        server.kill()
        killed = time.monotonic()
        for reader in readers:
            reader.join(10)
        server = Uvicorn(env, port)
        restarted = time.monotonic()

        # The restarted server's sweep marks them interrupted: at once, as their writer's
        # process on this host is gone (elsewhere, once their leases lapse).
        deadline = restarted + LEASE_SECONDS + SWEEP_SECONDS + 5
        while any(status == "pending" for status, _, _ in replies(database)):
            assert time.monotonic() < deadline, "replies are still pending"
            time.sleep(0.25)
        recovered = time.monotonic() - restarted
        final = replies(database)
        assert len(final) == REPLIES
        for status, content, error in final:
            assert (status, error) == ("error", INTERRUPTED)
            assert content.startswith("word0 word1 ")  # what was written is kept
        print(
            f"every reply retryable {recovered:.1f} s after the restart "
            f"({time.monotonic() - killed:.1f} s after the kill)"
        )
        assert recovered < SWEEP_SECONDS + 2

        # No question is lost, and Retry works at once.
        questions = query(
            database, "SELECT content FROM llm_chat_message WHERE role = 'user' ORDER BY id"
        )
        assert [q for (q,) in questions] == [f"Question {n}" for n in range(REPLIES)]
        provider.chunk_delay = 0
        chat, question = seeded["pairs"][0]
        status, headers, page = request(port, "GET", f"/chats/{chat}/", {"Cookie": cookie})
        assert status == 200 and "Retry" in page
        csrf = headers["Set-Cookie"].split("csrftoken=", 1)[1].split(";", 1)[0]
        status, _, body = request(
            port,
            "POST",
            f"/chats/{chat}/messages/{question}/reply/",
            {
                "Accept": "text/event-stream",
                "Cookie": f"{cookie}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Referer": f"http://127.0.0.1:{port}/",
            },
        )
        assert status == 200 and "event: done" in body
        assert sorted(status for status, _, _ in replies(database)) == ["complete"] + ["error"] * (
            REPLIES - 1
        )
    finally:
        server.stop()


def read_stream(port: int, path: str, cookie: str, events: list, stop_after: str = "") -> None:
    """Read a stream to its end, noting each event's name and data."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Accept": "text/event-stream", "Cookie": cookie})
        response = connection.getresponse()
        name = ""
        while line := response.readline():
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if stop_after and stop_after in line:
                    return
    finally:
        connection.close()


def test_a_reply_written_by_one_process_is_followed_and_stopped_from_another(stack):
    """Two web processes behind a load balancer: the page reopened on the other one follows
    the reply from where it is, and Stop pressed there ends the turn where it runs."""
    provider, env, database, seeded = stack
    provider.chunk_delay = 0.05
    one, other = free_port(), free_port()
    cookie = f"sessionid={seeded['session']}"
    servers = [Uvicorn(env, one), Uvicorn(env, other)]
    try:
        (chat, question), (chat2, question2) = seeded["pairs"][:2]
        path = f"/chats/{chat}/messages/{question}/stream/"
        first: list = []
        started = threading.Thread(target=read_stream, args=(one, path, cookie, first, "word5 "))
        started.start()
        started.join(30)
        assert any(name == "text" for name, _ in first), first
        time.sleep(1.0)  # the writer saves its text every half second

        followed: list = []
        read_stream(other, path, cookie, followed)  # to the end of the reply

        names = [name for name, _ in followed]
        assert names[0] == "start" and names[-1] == "done"
        so_far = followed[1][1]
        assert so_far["text"].startswith("word0 word1 ") and "html" in so_far
        text = "".join(data["text"] for name, data in followed if name == "text")
        assert text == "".join(f"word{n} " for n in range(WORDS))
        assert "word199" in followed[-1][1]["html"]

        # Stop, pressed on the other process, ends a reply written by the first.
        path2 = f"/chats/{chat2}/messages/{question2}/stream/"
        second: list = []
        reader = threading.Thread(target=read_stream, args=(one, path2, cookie, second))
        reader.start()
        deadline = time.monotonic() + 30
        while not any(name == "text" for name, _ in second):
            assert time.monotonic() < deadline, "the second reply never started"
            time.sleep(0.05)
        reply = second[0][1]["message_id"]
        _, headers, _ = request(other, "GET", f"/chats/{chat2}/", {"Cookie": cookie})
        csrf = headers["Set-Cookie"].split("csrftoken=", 1)[1].split(";", 1)[0]
        status, _, body = request(
            other,
            "POST",
            f"/chats/{chat2}/messages/{reply}/stop/",
            {
                "Accept": "application/json",
                "Cookie": f"{cookie}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Referer": f"http://127.0.0.1:{other}/",
            },
        )
        assert (status, json.loads(body)["status"]) == (200, "stopping")
        asked = time.monotonic()
        reader.join(15)
        assert not reader.is_alive()
        assert second[-1][0] == "stopped"
        print(f"stopped from the other process in {time.monotonic() - asked:.2f} s")
        [(status, content)] = query(
            database, f"SELECT status, content FROM llm_chat_message WHERE id = {int(reply)}"
        )
        assert status == "stopped" and content.startswith("word0 ")
        assert "word199" not in content
    finally:
        for server in servers:
            server.stop()
