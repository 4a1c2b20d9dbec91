"""A webhook receiver on loopback, as a real one behaves: it checks nothing itself but
records every request, answers with the statuses a test scripts, and counts deliveries by
Idempotency-Key (a key seen before is acknowledged, not delivered again)."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    # Status codes for the first requests, in order; 200 after them.
    statuses: list[int] = field(default_factory=list)
    # Hold the first request this many seconds before answering (a receiver that stalls).
    stall_first: float = 0.0
    requests: list[Received] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # keys, each once
    first_arrived: threading.Event = field(default_factory=threading.Event)
    # (certificate file, key file): serve HTTPS with them.
    tls: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._arrived(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"receiver says no")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._stop = threading.Event()

    def _arrived(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            status = self.statuses[number - 1] if number <= len(self.statuses) else 200
        if number == 1:
            self.first_arrived.set()
            if self.stall_first:
                self._stop.wait(self.stall_first)
        if 200 <= status < 300:
            key = request.headers.get("idempotency-key", "")
            with self._lock:
                if key not in self.delivered:
                    self.delivered.append(key)
        return status

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hooks/in"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
