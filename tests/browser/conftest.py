"""Headless chromium for the browser tests, driven by Playwright against `live_server`.

Playwright cannot download browsers here: it drives Debian's chromium. Without it the tests
skip on a laptop but fail under CI=true, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000

# Playwright's sync API runs an event loop in this thread, which makes Django refuse database
# work from the test (factories, assertions) unless told the thread is not really async.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _new_context(browser, live_server, **options):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, **options
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _page_failing_on_js_errors(browser, server) -> Iterator:
    context = _new_context(browser, server)
    page = context.new_page()
    # A page that throws is a failed test, even when the flow happens to continue.
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, live_server, transactional_db) -> Iterator:
    yield from _page_failing_on_js_errors(browser, live_server)


@pytest.fixture
def page_without_js(browser, live_server, transactional_db) -> Iterator:
    """The pages must work as plain links and forms too."""
    context = _new_context(browser, live_server, java_script_enabled=False)
    yield context.new_page()
    context.close()


# --- A real ASGI server, for what only streams under ASGI ------------------------------------
# pytest-django's live_server is a WSGI server: a streamed response reaches the browser only
# once it is complete. The chat streams its replies (Server-Sent Events), so those tests run
# the app under uvicorn, in a thread of this process (so factories, settings overrides and the
# loopback fake provider are shared) against the test database, committed (transactional_db)
# since the server's threads use their own connections.


@dataclass
class ASGIServer:
    url: str


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[ASGIServer]:
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from config.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        ASGIStaticFilesHandler(application), lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield ASGIServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def asgi_page(browser, asgi_server) -> Iterator:
    """A page on the uvicorn server; JavaScript errors fail the test, as with `page`."""
    yield from _page_failing_on_js_errors(browser, asgi_server)
