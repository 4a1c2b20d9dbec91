"""A scripted LLM provider on loopback, speaking the real wire formats.

`FakeLLMServer("openai")` answers `POST /v1/chat/completions` like OpenAI's Chat Completions
API and `FakeLLMServer("anthropic")` answers `POST /v1/messages` like Anthropic's Messages
API, streamed (Server-Sent Events over chunked HTTP/1.1) or not, so the real `openai` and
`anthropic` SDKs run unmodified on the client side.

Each request takes the next scripted reply from the queue:

- `Step(text=[...], tool_calls=[ToolCall(...)])`: one model response, text in the chunks
  given (each chunk is one SSE event) and tool calls whose JSON arguments arrive in pieces;
- `HTTPError(status, ...)`: an error response, e.g. 500, or 429 with a tiny Retry-After;
- `Stall(seconds)`: say nothing for a while (to trip the client's timeout);
- `Cut(step, after=n)`: stream a step until n text chunks are out, then drop the connection
  without ending the chunked body, as a crashed server or a broken network would.

Every request is recorded (`requests`), and every text chunk's flush time is recorded
(`emitted`), which the latency benchmark compares with the time the client receives it.
The server is plain `http.server` in a thread: no event loop is shared with the client.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


@dataclass
class ToolCall:
    name: str
    # A dict is sent as JSON in two pieces; a list of strings is sent as given (may be malformed).
    args: dict | list[str]
    id: str = field(default_factory=lambda: f"call_{next(_ids)}")

    def arg_chunks(self) -> list[str]:
        if isinstance(self.args, dict):
            text = json.dumps(self.args)
            middle = len(text) // 2
            return [text[:middle], text[middle:]]
        return list(self.args)

    def arguments(self) -> str:
        return "".join(self.arg_chunks())


@dataclass
class Step:
    text: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 20
    output_tokens: int = 10


@dataclass
class HTTPError:
    status: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stall:
    seconds: float


@dataclass
class Cut:
    step: Step
    after: int  # text chunks sent before the connection drops


Reply = Step | HTTPError | Stall | Cut


def say(*chunks: str) -> Step:
    return Step(text=list(chunks))


def call(name: str, args: dict | list[str], *, id: str | None = None) -> Step:
    tool_call = ToolCall(name, args) if id is None else ToolCall(name, args, id=id)
    return Step(tool_calls=[tool_call])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Each SSE event must leave at once, not wait for Nagle to batch it.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": body})
        if self.path.rstrip("/") != fake.endpoint:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        reply = fake.next_reply(body)
        stream = bool(body.get("stream"))
        if isinstance(reply, HTTPError):
            self._error(reply)
        elif isinstance(reply, Stall):
            fake.stop_event.wait(reply.seconds)
            self.close_connection = True
        elif isinstance(reply, Cut):
            self._stream(reply.step, body, cut_after=reply.after)
        elif stream:
            self._stream(reply, body)
        else:
            self._json(200, fake.wire.complete(reply, body))

    # -- responses ----------------------------------------------------------------------

    def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, reply: HTTPError) -> None:
        self._json(reply.status, self.server.fake.wire.error(reply), reply.headers)

    def _stream(self, step: Step, body: dict, *, cut_after: int | None = None) -> None:
        fake = self.server.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        sent_texts = 0
        for event, text in fake.wire.events(step, body):
            if cut_after is not None and sent_texts >= cut_after:
                # Drop the connection mid-body: no terminating chunk, no [DONE].
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            if text is not None:
                fake.emitted.append((text, time.perf_counter()))
                sent_texts += 1
            if fake.chunk_delay:
                time.sleep(fake.chunk_delay)
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer


# -- wire formats ---------------------------------------------------------------------------


def _sse(payload: dict | str, event: str | None = None) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {data}\n\n"


class OpenAIWire:
    endpoint = "/v1/chat/completions"

    def events(self, step: Step, body: dict):
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model", "fake"),
        }

        def chunk(delta: dict, finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return _sse({**base, "choices": [choice]})

        yield chunk({"role": "assistant"}), None
        for text in step.text:
            yield chunk({"content": text}), text
        for index, tool_call in enumerate(step.tool_calls):
            function = {"name": tool_call.name, "arguments": ""}
            start = {"index": index, "id": tool_call.id, "type": "function", "function": function}
            yield chunk({"tool_calls": [start]}), None
            for piece in tool_call.arg_chunks():
                more = {"index": index, "function": {"arguments": piece}}
                yield chunk({"tool_calls": [more]}), None
        yield chunk({}, "tool_calls" if step.tool_calls else "stop"), None
        yield _sse({**base, "choices": [], "usage": _openai_usage(step)}), None
        yield _sse("[DONE]"), None

    def complete(self, step: Step, body: dict) -> dict:
        message: dict = {"role": "assistant", "content": "".join(step.text) or None}
        if step.tool_calls:
            message["tool_calls"] = [
                {
                    "id": t.id,
                    "type": "function",
                    "function": {"name": t.name, "arguments": t.arguments()},
                }
                for t in step.tool_calls
            ]
        finish = "tool_calls" if step.tool_calls else "stop"
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _openai_usage(step),
        }

    def error(self, reply: HTTPError) -> dict:
        return {"error": {"message": reply.message, "type": "server_error", "code": None}}


def _openai_usage(step: Step) -> dict:
    return {
        "prompt_tokens": step.input_tokens,
        "completion_tokens": step.output_tokens,
        "total_tokens": step.input_tokens + step.output_tokens,
    }


class AnthropicWire:
    endpoint = "/v1/messages"

    def events(self, step: Step, body: dict):
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": step.input_tokens, "output_tokens": 1},
        }
        yield _event("message_start", message=message), None
        index = 0
        if step.text:
            yield _event("content_block_start", index=index, content_block=_text_block()), None
            for text in step.text:
                delta = {"type": "text_delta", "text": text}
                yield _event("content_block_delta", index=index, delta=delta), text
            yield _event("content_block_stop", index=index), None
            index += 1
        for tool_call in step.tool_calls:
            block = {"type": "tool_use", "id": tool_call.id, "name": tool_call.name, "input": {}}
            yield _event("content_block_start", index=index, content_block=block), None
            for piece in tool_call.arg_chunks():
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield _event("content_block_delta", index=index, delta=delta), None
            yield _event("content_block_stop", index=index), None
            index += 1
        stop = "tool_use" if step.tool_calls else "end_turn"
        delta = {"stop_reason": stop, "stop_sequence": None}
        usage = {"output_tokens": step.output_tokens}
        yield _event("message_delta", delta=delta, usage=usage), None
        yield _event("message_stop"), None

    def complete(self, step: Step, body: dict) -> dict:
        content: list[dict] = []
        if step.text:
            content.append({"type": "text", "text": "".join(step.text)})
        for t in step.tool_calls:
            arguments = json.loads(t.arguments())
            content.append({"type": "tool_use", "id": t.id, "name": t.name, "input": arguments})
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": content,
            "stop_reason": "tool_use" if step.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": step.input_tokens, "output_tokens": step.output_tokens},
        }

    def error(self, reply: HTTPError) -> dict:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.message}}


def _event(kind: str, **fields: object) -> str:
    """An Anthropic SSE event: the type is both the event name and the payload's `type`."""
    return _sse({"type": kind, **fields}, kind)


def _text_block() -> dict:
    return {"type": "text", "text": ""}


WIRES = {"openai": OpenAIWire, "anthropic": AnthropicWire}


class FakeLLMServer:
    """Start with `with FakeLLMServer("openai", [say("Hi")]) as server:`."""

    def __init__(
        self,
        wire: str,
        replies: list[Reply] | None = None,
        *,
        default: Callable[[dict], Reply] | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        self.wire = WIRES[wire]()
        self.wire_name = wire
        self.endpoint = self.wire.endpoint
        self.replies: deque[Reply] = deque(replies or [])
        self.default = default
        self.chunk_delay = chunk_delay
        self.requests: list[dict] = []
        self.emitted: list[tuple[str, float]] = []
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def next_reply(self, body: dict) -> Reply:
        with self._lock:
            if self.replies:
                return self.replies.popleft()
        if self.default is not None:
            return self.default(body)
        return HTTPError(500, "the fake server has no reply scripted for this request")

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        # The OpenAI SDK appends /chat/completions to a base URL ending in /v1; the Anthropic
        # SDK appends /v1/messages to the bare origin.
        origin = f"http://127.0.0.1:{self.port}"
        return f"{origin}/v1" if self.wire_name == "openai" else origin

    def start(self) -> FakeLLMServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
