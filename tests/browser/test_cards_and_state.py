"""Pages you can trust, in a browser: a chat card runs with the values its message used
(and the user can change them), cards of one artifact agree on its statistics, the artifact
page opens on its latest result and keeps a run's values in the URL, a text parameter with
allowed values is a select, and on a phone the artifact list keeps its useful columns while
wide results scroll sideways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact import services
from apps.llm_artifact.models import ArtifactRun
from apps.llm_chat.models import Message
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import FakeLLMServer, call, say
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.browser

BY_STATUS = (
    "SELECT o.id, o.status, o.total\nFROM orders o\n"
    "WHERE o.status = :status AND o.ordered_at >= :since\nORDER BY o.id"
)
STATUSES = ["new", "paid", "shipped", "delivered", "cancelled", "returned"]
WIDE = (
    "SELECT o.id, o.status, o.ordered_at, o.total, c.name AS customer_name, "
    "c.email AS customer_email, c.country AS customer_country, "
    "c.signed_up_at AS customer_signed_up_at, o.customer_id AS customer_number, "
    "o.category_id AS category_number\nFROM orders o JOIN customers c ON c.id = o.customer_id\n"
    "ORDER BY o.id"
)


@pytest.fixture
def demo(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Order statuses")
    orders = ArtifactFactory(
        owner=user,
        chat=chat,
        agent=chat.agent,
        title="Orders with a status",
        sql_query=BY_STATUS,
        query_params=[
            {
                "name": "status",
                "type": "string",
                "label": "Status",
                "default": "paid",
                "choices": STATUSES,
            },
            {"name": "since", "type": "date", "label": "Ordered since", "default": "2024-01-01"},
        ],
    )
    MessageFactory(chat=chat, content="Which orders are paid?")
    made = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="The paid orders.")
    made.link_artifact(orders, Message.ArtifactAction.CREATED)
    MessageFactory(chat=chat, content="And the cancelled ones?")
    again = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="The cancelled orders.")
    again.link_artifact(
        orders,
        Message.ArtifactAction.EXECUTED,
        params={"status": "cancelled", "since": "2024-01-01"},
    )
    wide = ArtifactFactory(
        owner=user, chat=chat, title="Orders with their customers", sql_query=WIDE
    )
    listed = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Every order.")
    listed.link_artifact(wide, Message.ArtifactAction.CREATED)
    return {"chat": chat, "orders": orders, "made": made, "again": again, "wide": wide}


def card_of(page: Page, artifact, message):
    return page.locator(f"#artifact-card-{artifact.pk}-{message.pk}")


def test_each_card_runs_with_its_own_values_and_cards_agree(page: Page, live_server, demo):
    orders, made, again = demo["orders"], demo["made"], demo["again"]
    sign_in(page)
    page.goto(demo["chat"].get_absolute_url())
    first, second = card_of(page, orders, made), card_of(page, orders, again)
    # Every id on the page is unique, although both cards show the same artifact.
    ids = page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
    assert len(ids) == len(set(ids))
    expect(first.get_by_label("Status")).to_have_value("paid")
    expect(second.get_by_label("Status")).to_have_value("cancelled")

    second.get_by_role("button", name="Run").click()
    rows = second.locator(".artifact-card-run table.result-table tbody tr")
    expect(rows).to_have_count(1)  # order 3, the one cancelled
    expect(rows.first).to_contain_text("cancelled")
    # The card above, untouched, agrees on the count and the last run.
    expect(first.locator(".artifact-card-runs")).to_have_text(re.compile(r"1 run$"))
    expect(first.locator(".artifact-card-last-run")).to_contain_text("Last run")

    # The values can be changed before running.
    first.get_by_label("Status").select_option("delivered")
    first.get_by_role("button", name="Run").click()
    rows = first.locator(".artifact-card-run table.result-table tbody tr")
    expect(rows).to_have_count(2)
    expect(second.locator(".artifact-card-runs")).to_have_text(re.compile(r"2 runs$"))
    assert [run.params["status"] for run in ArtifactRun.objects.order_by("id")] == [
        "cancelled",
        "delivered",
    ]


def test_the_page_keeps_a_run_in_its_url_and_opens_on_it(
    page: Page, live_server, demo, monkeypatch
):
    orders = demo["orders"]
    sign_in(page)
    page.goto(orders.get_absolute_url())
    panel = page.locator("#artifact-run-panel")
    # A select of the allowed values; dates typed as the help text writes them.
    expect(panel.get_by_label("Status")).to_have_value("paid")
    assert panel.locator("select[name=status] option").all_text_contents() == STATUSES
    since = panel.get_by_label("Ordered since")
    expect(since).to_have_value("2024-01-01")
    expect(panel.locator("#param-since_helptext")).to_contain_text("YYYY-MM-DD, default 2024-01-01")

    panel.get_by_label("Status").select_option("returned")
    panel.get_by_role("button", name="Run").click()
    expect(page.locator(".run-summary")).to_contain_text("1 row")
    expect(page).to_have_url(re.compile(r"\?status=returned&since=2024-01-01$"))

    # Reload, or open the link elsewhere: the same run shows, and nothing runs again.
    def refuse(*args, **kwargs):
        raise AssertionError("opening the page ran the query")

    monkeypatch.setattr(services, "execute", refuse)
    page.reload()
    panel = page.locator("#artifact-run-panel")
    expect(panel.locator(".run-snapshot")).to_contain_text("status=returned")
    expect(panel.get_by_label("Status")).to_have_value("returned")
    expect(panel.locator("table.result-table tbody tr")).to_have_count(1)
    expect(panel.locator("table.result-table tbody tr").first).to_contain_text("640")
    assert ArtifactRun.objects.count() == 1

    # "Run again" runs those values afresh.
    monkeypatch.undo()
    panel.get_by_role("button", name="Run again").click()
    expect(page.locator("#artifact-execution-count")).to_have_text("2")
    expect(page.locator("#artifact-run-panel .run-snapshot")).to_have_count(0)
    expect(page.locator("#artifact-run-panel table.result-table tbody tr")).to_have_count(1)
    assert [run.params["status"] for run in ArtifactRun.objects.all()] == ["returned"] * 2


@pytest.fixture
def phone(browser, live_server, transactional_db):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def page_overflows(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def assert_scrolls_to_its_last_column(frame) -> None:
    """The table is wider than the phone: it scrolls inside its frame, every column there."""
    assert frame.evaluate("el => el.scrollWidth > el.clientWidth")
    # Down to the table first (the page opens above it), then sideways inside its frame.
    frame.scroll_into_view_if_needed()
    frame.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    last = frame.locator("thead th").last
    expect(last).to_have_text("category_number")
    expect(last).to_be_in_viewport()


def test_on_a_phone_the_list_keeps_its_columns_and_results_scroll(phone: Page, demo):
    sign_in(phone)
    phone.goto("/artifacts/")
    headers = phone.locator(".artifact-table thead th:visible")
    expect(headers).to_have_text(
        [re.compile(r"Title"), re.compile(r"Status"), re.compile("Runs"), re.compile("Last run")]
    )
    assert not page_overflows(phone)

    phone.goto(demo["wide"].get_absolute_url())
    phone.get_by_role("button", name="Run").click()
    frame = phone.locator("#artifact-run-result .result-scroll")
    expect(frame.locator("tbody tr")).to_have_count(10)
    assert not page_overflows(phone)
    assert_scrolls_to_its_last_column(frame)
    # The run history keeps its columns too (who ran it, with what values), scrolling.
    history = phone.locator("#artifact-run-history")
    for header in ("When", "Who", "Outcome", "Rows", "Duration", "Parameters"):
        expect(history.get_by_role("columnheader", name=header)).to_be_visible()
    assert not page_overflows(phone)


def test_on_a_phone_a_wide_card_result_scrolls_sideways(phone: Page, demo):
    sign_in(phone)
    phone.goto(demo["chat"].get_absolute_url())
    card = phone.locator(f"[data-artifact-card='{demo['wide'].pk}']")
    card.get_by_role("button", name="Run").click()
    frame = card.locator(".result-scroll")
    expect(frame.locator("tbody tr")).to_have_count(10)
    assert not page_overflows(phone)
    assert_scrolls_to_its_last_column(frame)


@pytest.fixture
def provider():
    with FakeLLMServer("openai") as server:
        yield server


def test_the_agent_runs_a_saved_query_with_other_values_and_its_card_follows(
    asgi_page: Page, provider, tmp_path: Path, settings
):
    page = asgi_page
    settings.DATA_SOURCES = f"marketplace=sqlite:///{build_shop(tmp_path / 'shop.sqlite3')}"
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Statuses")
    chat.agent.base_url = provider.base_url
    chat.agent.save()
    orders = ArtifactFactory(
        owner=user,
        chat=chat,
        agent=chat.agent,
        title="Orders in a status",
        sql_query="SELECT id, status, total FROM orders WHERE status = :status ORDER BY id",
        query_params=[
            {"name": "status", "type": "string", "default": "delivered", "choices": STATUSES}
        ],
    )
    made = MessageFactory(chat=chat, role=Message.Role.ASSISTANT, content="Delivered orders.")
    made.link_artifact(orders, Message.ArtifactAction.CREATED)
    provider.queue(
        call("run_artifact", {"artifact_id": orders.pk, "params": {"status": "cancelled"}}),
        say("One order was cancelled, worth 60."),
    )

    sign_in(page)
    page.goto(chat.get_absolute_url())
    page.get_by_label("Message").fill("And the cancelled ones?")
    page.get_by_role("button", name="Send").click()

    reply = page.locator("article.chat-message-assistant").last
    expect(reply).to_contain_text("One order was cancelled")
    expect(reply.locator(".chat-message-pending")).to_have_count(0)
    card = reply.locator(f"[data-artifact-card='{orders.pk}']")
    expect(card).to_contain_text("Executed")
    expect(card.get_by_label("Status")).to_have_value("cancelled")
    # The agent's run counts: both cards say so once the reply is in.
    expect(card.locator(".artifact-card-runs")).to_have_text(re.compile(r"1 run$"))

    card.get_by_role("button", name="Run").click()
    rows = card.locator(".artifact-card-run table.result-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("cancelled")
    first = card_of(page, orders, made)
    expect(first.get_by_label("Status")).to_have_value("delivered")
    expect(first.locator(".artifact-card-runs")).to_have_text(re.compile(r"2 runs$"))
