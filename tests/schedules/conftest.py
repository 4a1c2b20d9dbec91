from __future__ import annotations

import pytest

from apps.datasources.schema import clear_schema_cache
from tests.datasources import sample
from tests.schedules.factories import ScheduleFactory


@pytest.fixture(autouse=True)
def marketplace(tmp_path, settings):
    """The sample shop as the `marketplace` source: 10 orders, one of them cancelled."""
    path = sample.use_sqlite(tmp_path, settings)
    clear_schema_cache()
    settings.SCHEDULE_MAX_FAILURES = 3
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return path


@pytest.fixture
def schedule(owner):
    return ScheduleFactory(artifact__owner=owner, artifact__title="Orders by status")


class Receiver:
    """A loopback HTTP server that records the POSTs it gets (a webhook's receiver)."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    """A webhook receiver on loopback, allowed by the test settings (never in production)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_ALLOW_HTTP = True
    server = Receiver()
    yield server
    server.close()
