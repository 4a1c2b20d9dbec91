"""A request that fails says so in place, with what to do next, and leaves the controls
showing what the page really shows: on the artifact page, the chat card, the composer and
the artifact list. Failures are simulated by intercepting the request in the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from apps.llm_chat.models import Message
from tests.browser.test_pages_flow import sign_in
from tests.browser.test_run_flow import demo  # noqa: F401 (a fixture)
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser


def server_error(route: Route) -> None:
    route.fulfill(status=500, body="<h1>Server error</h1>", content_type="text/html")


def test_artifact_page_run_that_cannot_reach_the_server(page: Page, live_server, demo):  # noqa: F811
    orders = demo["orders"]
    sign_in(page)
    page.goto(orders.get_absolute_url())
    panel = page.locator("#artifact-run-panel")
    page.get_by_label("Ordered since").fill("2024-03-01")

    page.route("**/run/", lambda route: route.abort())
    panel.get_by_role("button", name="Run").click()
    alert = panel.locator(".htmx-error")
    expect(alert).to_contain_text("The query did not run. Could not reach the server.")
    expect(alert).to_contain_text("Check your connection and try again.")
    expect(panel.get_by_role("button", name="Run")).to_be_enabled()
    expect(panel.locator(".run-indicator")).to_have_css("opacity", "0")
    expect(page.get_by_label("Ordered since")).to_have_value("2024-03-01")

    # A server failure says so too, with a reference for the operators; one alert at a time.
    page.unroute("**/run/")
    page.route("**/run/", server_error)
    panel.get_by_role("button", name="Run").click()
    expect(alert).to_contain_text("The server failed (500)")
    expect(alert).to_contain_text(re.compile(rf"reference: POST /artifacts/{orders.pk}/run/ at"))
    expect(alert).to_have_count(1)

    # Dismissible; and the next run that arrives shows its rows without the old alert.
    alert.get_by_role("button", name="Dismiss").click()
    expect(alert).to_have_count(0)
    panel.get_by_role("button", name="Run").click()
    expect(alert).to_have_count(1)
    page.unroute("**/run/")
    panel.get_by_role("button", name="Run").click()
    expect(page.locator("#artifact-run-panel table.result-table tbody tr")).to_have_count(5)
    expect(page.locator("#artifact-run-panel .htmx-error")).to_have_count(0)


def test_chat_card_run_that_fails(page: Page, live_server, demo):  # noqa: F811
    orders = demo["orders"]
    sign_in(page)
    page.goto(demo["chat"].get_absolute_url())
    card = page.locator(f"[data-artifact-card='{orders.pk}']")

    page.route("**/card-run/", server_error)
    card.get_by_role("button", name="Run").click()
    expect(card.locator(".htmx-error")).to_contain_text("The query did not run. The server failed")
    expect(card.get_by_role("button", name="Run")).to_be_enabled()

    page.unroute("**/card-run/")
    card.get_by_role("button", name="Run").click()
    expect(card.locator("table.result-table tbody tr")).to_have_count(10)
    expect(card.locator(".htmx-error")).to_have_count(0)


def test_composer_that_cannot_send_keeps_the_text(page: Page, live_server, demo):  # noqa: F811
    chat = demo["chat"]
    sign_in(page)
    page.goto(chat.get_absolute_url())
    composer = page.locator("#composer")
    composer.get_by_label("Message").fill("And the month before?")

    page.route(re.compile(r"/chats/\d+/messages/$"), lambda route: route.abort())
    composer.get_by_role("button", name="Send").click()
    expect(composer.locator(".htmx-error")).to_contain_text(
        "Your message was not sent; its text is kept. Could not reach the server."
    )
    expect(composer.get_by_label("Message")).to_have_value("And the month before?")
    expect(composer.get_by_role("button", name="Send")).to_be_enabled()
    assert not Message.objects.filter(content="And the month before?").exists()


def test_list_filter_that_fails_goes_back_to_what_the_rows_show(page: Page, live_server, demo):  # noqa: F811
    ArtifactFactory(owner=demo["orders"].owner, title="An old draft", status="draft")
    sign_in(page)
    page.goto("/artifacts/")
    rows = page.locator(".artifact-table tbody tr")
    expect(rows).to_have_count(2)

    page.route(re.compile(r"/artifacts/\?"), lambda route: route.abort())
    page.get_by_label("Status").select_option("draft")
    expect(page.locator(".htmx-error")).to_contain_text("Could not reach the server.")
    # The rows are still all of them, so the filter says "Any status" again.
    expect(page.get_by_label("Status")).to_have_value("")
    expect(rows).to_have_count(2)

    page.unroute(re.compile(r"/artifacts/\?"))
    page.get_by_label("Status").select_option("draft")
    expect(rows).to_have_count(1)
    expect(page.locator(".htmx-error")).to_have_count(0)
    page.route(re.compile(r"/artifacts/\?"), server_error)
    page.get_by_label("Status").select_option("active")
    expect(page.locator(".htmx-error")).to_contain_text("The server failed (500)")
    expect(page.get_by_label("Status")).to_have_value("draft")
