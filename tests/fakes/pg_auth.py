"""A PostgreSQL server that refuses every password, speaking just enough of the protocol.

The test server trusts local connections, so a wrong password gets in there. This one
answers a client's startup with a request for a cleartext password, then with the error
a real server sends for a wrong one (SQLSTATE 28P01), so libpq reports exactly what it
reports in production: 'connection to server at "127.0.0.1", port N failed: FATAL:
password authentication failed for user "..."'.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
CANCEL_REQUEST = 80877102


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _startup_user(conn: socket.socket) -> str | None:
    """Read the startup packet (answering 'no' to SSL and GSS encryption); the user name."""
    while True:
        length = struct.unpack("!I", _read_exact(conn, 4))[0]
        body = _read_exact(conn, length - 4)
        code = struct.unpack("!I", body[:4])[0]
        if code in (SSL_REQUEST, GSS_REQUEST):
            conn.sendall(b"N")
            continue
        if code == CANCEL_REQUEST:
            return None
        fields = body[4:].split(b"\0")
        options = dict(zip(fields[0::2], fields[1::2], strict=False))
        return options.get(b"user", b"").decode()


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _refuse(conn: socket.socket) -> None:
    user = _startup_user(conn)
    if user is None:
        return
    conn.sendall(_message(b"R", struct.pack("!I", 3)))  # AuthenticationCleartextPassword
    kind = _read_exact(conn, 1)
    length = struct.unpack("!I", _read_exact(conn, 4))[0]
    _read_exact(conn, length - 4)
    if kind != b"p":
        return
    fields = [
        b"SFATAL",
        b"VFATAL",
        b"C28P01",
        f'Mpassword authentication failed for user "{user}"'.encode(),
    ]
    conn.sendall(_message(b"E", b"\0".join(fields) + b"\0\0"))


@contextmanager
def password_refusing_server() -> Iterator[int]:
    """Serve on a free loopback port until the block ends; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with suppress(ConnectionError, OSError):
                    _refuse(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
