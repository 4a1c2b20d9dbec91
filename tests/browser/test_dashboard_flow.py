"""A dashboard, clicked through (issue 16's "Done when"): the agent (the scripted provider on
loopback) builds a dashboard with a date filter from three artifacts; its card in the chat
opens it; a change of the filter re-runs every tile, in place; tiles are rearranged by drag
and drop and by their buttons; on a phone the tiles stand in one column; a colleague with
access to two of the three artifacts sees two tiles and a note.

The app runs under uvicorn (asgi_server): the reply streams, and the tiles load side by side.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import Artifact
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PASSWORD, UserFactory, group_named, share
from tests.datasources import sample
from tests.fakes.llm_server import FakeLLMServer, call, say
from tests.llm_artifact.factories import period_artifacts
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.browser
# Tiles run queries: give them the tests' usual patience, not expect()'s 5 seconds.
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def provider():
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
def one_run_at_a_time(monkeypatch):
    """Tiles record their runs one at a time, in this test only.

    The tests' in-memory SQLite database (shared cache) refuses a second writer at once
    ("database table is locked": busy timeouts do not apply to it), where the app's own
    databases wait their turn (SQLite on file with IMMEDIATE transactions and a timeout,
    config/settings.py; PostgreSQL). The tiles still ask side by side; bench/dashboard.py
    measures them running concurrently on a real database.
    """
    import threading

    from apps.llm_artifact import views_dashboard

    lock = threading.Lock()
    run_tile = views_dashboard.run_tile

    def serialised(*args, **kwargs):
        with lock:
            return run_tile(*args, **kwargs)

    monkeypatch.setattr(views_dashboard, "run_tile", serialised)

    # Reads do not lock tables either: in shared-cache mode a tile's reads (its artifact, the
    # sharing rule) would make another tile's serialised write fail at once in the same way.
    from django.db import connection
    from django.db.backends.signals import connection_created

    def read_uncommitted(sender, connection, **kwargs):
        if connection.vendor == "sqlite":
            connection.cursor().execute("PRAGMA read_uncommitted = 1")

    connection_created.connect(read_uncommitted)
    if connection.vendor == "sqlite":
        connection.cursor().execute("PRAGMA read_uncommitted = 1")
    yield
    connection_created.disconnect(read_uncommitted)


@pytest.fixture
def world(asgi_server, provider, tmp_path: Path, settings, one_run_at_a_time):
    sample.use_sqlite(tmp_path, settings)
    analyst = UserFactory(username="analyst")
    colleague = UserFactory(username="colleague")
    analysts = group_named("analysts")
    colleague.groups.add(analysts)
    chat = ChatFactory(owner=analyst, title="Weekly numbers")
    chat.agent.base_url = provider.base_url
    chat.agent.save()
    revenue, by_status, top = period_artifacts(analyst)
    return {"chat": chat, "artifacts": (revenue, by_status, top), "analysts": analysts}


def sign_in(page: Page, username: str) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chats/$"))


def tile(page: Page, tile_id: str):
    return page.locator(f"#tile-{tile_id}-body")


def drag(page: Page, source: str, target: str) -> None:
    """Drag with the mouse, in steps, with both ends on the screen at once."""
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.locator(source).scroll_into_view_if_needed()
    start, end = page.locator(source).bounding_box(), page.locator(target).bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 20, end["y"] + end["height"] / 2, steps=10)
    page.mouse.up()
    page.set_viewport_size({"width": 1280, "height": 900})


def order_in_database(dashboard: Artifact) -> list[str]:
    return [t["id"] for t in Artifact.objects.get(pk=dashboard.pk).document["tiles"]]


def agent_builds_the_dashboard(page: Page, world, provider) -> Artifact:
    revenue, by_status, top = world["artifacts"]
    provider.queue(
        call(
            "save_dashboard",
            {
                "title": "Sales overview",
                "tiles": [
                    {"artifact_id": revenue.pk, "show": "number", "width": 4},
                    {"artifact_id": by_status.pk, "show": "chart", "width": 8},
                    {"artifact_id": top.pk, "show": "table", "width": 12},
                ],
                "filters": [
                    {
                        "label": "Order date",
                        "kind": "date_range",
                        "params": ["start_date", "end_date"],
                        "default": ["2024-01-01", "2024-04-01"],
                    }
                ],
            },
        ),
        say("The dashboard is ready: revenue, orders by status and the top customers."),
    )
    sign_in(page, "analyst")
    page.goto(world["chat"].get_absolute_url())
    page.get_by_label("Message").fill(
        "Put the revenue, orders by status and the top customers on a dashboard with a date filter"
    )
    page.get_by_role("button", name="Send").click()
    reply = page.locator("article.chat-message-assistant").last
    card = reply.locator(".dashboard-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("3 tiles")
    dashboard = Artifact.objects.get(artifact_type="dashboard")
    card.get_by_role("link", name="Open dashboard").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{dashboard.pk}/$"))
    return dashboard


def test_agent_builds_a_dashboard_that_filters_rearranges_and_fits_a_phone(
    asgi_page: Page, world, provider, browser, asgi_server
):
    page = asgi_page
    dashboard = agent_builds_the_dashboard(page, world, provider)

    # Every tile loads itself: the quarter's revenue, the chart, the top customers.
    expect(tile(page, "t1").locator(".dashboard-number-value")).to_have_text("2,179.74")
    expect(tile(page, "t2").locator("[data-chart]")).to_have_attribute(
        "data-chart-state", "drawn", timeout=TIMEOUT_MS
    )
    expect(tile(page, "t3")).to_contain_text("Ada Lovelace")

    # February only: every tile runs again with the new dates, and the URL keeps them.
    page.get_by_label("Order date from").fill("2024-02-01")
    page.get_by_label("Order date to").fill("2024-03-01")
    expect(page).to_have_url(re.compile(r"order_date_from=2024-02-01&order_date_to=2024-03-01"))
    expect(tile(page, "t1").locator(".dashboard-number-value")).to_have_text("1,262.24")
    expect(tile(page, "t1")).to_contain_text("against the previous period")
    expect(tile(page, "t3")).not_to_contain_text("Ada Lovelace")
    expect(tile(page, "t3")).to_contain_text("Alan Turing")
    expect(tile(page, "t2").locator("table.result-table tbody tr")).to_have_count(3)

    # Drag the table onto the first tile: it goes first, and the order is saved.
    drag(page, "#tile-t3 .dashboard-drag-handle", "#tile-t1 .card-header")
    expect(page.locator("#dashboard-grid")).to_have_attribute("data-order-saved", "yes")
    assert order_in_database(dashboard) == ["t3", "t1", "t2"]
    # The keyboard's way: the chart's "Move earlier" button (a plain form) moves it back.
    page.get_by_role("button", name="Move earlier: Orders by status").click()
    expect(page.locator(".dashboard-tile-cell").nth(1)).to_have_id("tile-t2")
    assert order_in_database(dashboard) == ["t3", "t2", "t1"]
    # ...and the filter values survive the round trip.
    expect(page).to_have_url(re.compile(r"order_date_from=2024-02-01"))
    expect(tile(page, "t1").locator(".dashboard-number-value")).to_have_text("1,262.24")

    # On a phone: one column, each tile the full width.
    phone = browser.new_context(
        base_url=asgi_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    phone.set_default_timeout(TIMEOUT_MS)
    small = phone.new_page()
    sign_in(small, "analyst")
    small.goto(dashboard.get_absolute_url())
    expect(tile(small, "t1").locator(".dashboard-number-value")).to_have_text("2,179.74")
    boxes = [small.locator(f"#tile-{t}").bounding_box() for t in ("t3", "t2", "t1")]
    assert len({round(box["x"]) for box in boxes}) == 1
    assert len({round(box["width"]) for box in boxes}) == 1
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
    phone.close()


def test_a_colleague_sees_the_tiles_shared_with_them_and_a_note(
    asgi_page: Page, world, provider, browser, asgi_server
):
    page = asgi_page
    dashboard = agent_builds_the_dashboard(page, world, provider)
    revenue, by_status, _ = world["artifacts"]
    for row in (dashboard, revenue, by_status):
        share(row, world["analysts"])

    context = browser.new_context(base_url=asgi_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    colleague = context.new_page()
    sign_in(colleague, "colleague")
    colleague.goto(dashboard.get_absolute_url())
    expect(colleague.locator("#dashboard-hidden-note")).to_contain_text(
        "One tile is not shown: its artifact is not shared with you"
    )
    expect(colleague.locator("[data-tile-url]")).to_have_count(2)
    expect(tile(colleague, "t1").locator(".dashboard-number-value")).to_have_text("2,179.74")
    expect(tile(colleague, "t2")).to_contain_text("cancelled")
    expect(tile(colleague, "t3")).to_contain_text("not shared with you")
    expect(colleague.get_by_text("Top customers")).to_have_count(0)
    # A viewer filters (their own values, in their URL) but does not arrange.
    expect(colleague.locator(".dashboard-tile-tools")).to_have_count(0)
    colleague.get_by_label("Order date from").fill("2024-02-01")
    colleague.get_by_label("Order date to").fill("2024-03-01")
    expect(tile(colleague, "t1").locator(".dashboard-number-value")).to_have_text("1,262.24")
    context.close()


def test_the_dashboard_without_javascript(
    page_without_js: Page, live_server, tmp_path: Path, settings, one_run_at_a_time
):
    from tests.llm_artifact.factories import dashboard_for

    sample.use_sqlite(tmp_path, settings)
    analyst = UserFactory(username="analyst")
    dashboard = dashboard_for(
        analyst, period_artifacts(analyst), shows=["number", "table", "table"]
    )
    page = page_without_js
    sign_in(page, "analyst")
    page.goto(dashboard.get_absolute_url())
    # The filter form is a plain GET form: the values go into the URL.
    page.get_by_label("Order date from").fill("2024-02-01")
    page.get_by_label("Order date to").fill("2024-03-01")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"period_from=2024-02-01&period_to=2024-03-01"))
    # Each tile is a link to a page of its own, with those values.
    page.locator("#tile-t1").get_by_role("link", name="Open this tile").click()
    expect(page.locator(".dashboard-number-value")).to_have_text("1,262.24")
    page.go_back()
    # Arranging is a plain form that comes back to the same view.
    page.get_by_role("button", name="Move later: Revenue").click()
    expect(page).to_have_url(re.compile(r"period_from=2024-02-01.*#tile-t1$"))
    assert order_in_database(dashboard) == ["t2", "t1", "t3"]
