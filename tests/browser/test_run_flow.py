"""Running an artifact the way people do: fill a date on the artifact page, press Run, watch
the spinner give way to the table while the statistics and history update in place; run an
artifact from its chat card; download the CSV export with the values typed in the form."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.llm_artifact import views
from apps.llm_artifact.models import ArtifactRun
from apps.llm_chat.models import Message
from tests.browser.test_pages_flow import assert_same_document, mark_document, sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.browser

ORDERS_SINCE = (
    "SELECT o.id, c.name, c.email, o.total, o.ordered_at\n"
    "FROM orders o JOIN customers c ON c.id = o.customer_id\n"
    "WHERE o.ordered_at >= :since\n"
    "ORDER BY o.id"
)


@pytest.fixture
def demo(transactional_db, tmp_path: Path, settings):
    sample.use_sqlite(tmp_path, settings)
    user = UserFactory(username="analyst")
    chat = ChatFactory(owner=user, title="Orders this spring")
    orders = ArtifactFactory(
        owner=user,
        chat=chat,
        agent=chat.agent,
        title="Orders since",
        sql_query=ORDERS_SINCE,
        query_params=[
            {"name": "since", "type": "date", "label": "Ordered since", "default": "2024-01-01"}
        ],
    )
    MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        content="Here are the orders since January.",
        artifact=orders,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    return {"chat": chat, "orders": orders}


@pytest.fixture
def gated_runs(monkeypatch):
    """Runs from the artifact page wait until the test opens the gate, so the test can see
    the page while a run is in flight. The live server shares this process."""
    gate = threading.Event()
    real = views.run_artifact

    def run_when_open(*args, **kwargs):
        assert gate.wait(10), "the test never opened the gate"
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "run_artifact", run_when_open)
    return gate


def test_run_an_artifact_with_a_date_and_export_it(page: Page, live_server, demo, gated_runs):
    orders = demo["orders"]
    sign_in(page)
    page.goto(orders.get_absolute_url())
    panel = page.locator("#artifact-run-panel")
    expect(panel.get_by_text("Run the query to see its result here.")).to_be_visible()
    expect(page.locator("#artifact-execution-count")).to_have_text("0")
    expect(page.locator("#artifact-run-history")).to_contain_text("No runs yet.")

    mark_document(page)
    page.get_by_label("Ordered since").fill("2024-03-01")
    panel.get_by_role("button", name="Run").click()

    # In flight: the spinner shows and the button cannot be pressed twice.
    expect(panel.locator("form")).to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(panel.locator(".run-indicator")).to_have_css("opacity", "1")
    expect(panel.get_by_role("button", name="Run")).to_be_disabled()
    gated_runs.set()

    table = panel.locator("table.result-table")
    expect(table).to_be_visible()
    expect(panel.locator(".run-indicator")).to_have_css("opacity", "0")
    expect(table.locator("tbody tr")).to_have_count(5)  # orders 6 to 10
    expect(table.locator("tbody tr").first).to_contain_text("Grace Hopper")
    barbara = table.locator("tbody tr", has_text="Barbara Liskov")
    expect(barbara.locator(".null-badge")).to_have_text("NULL")
    expect(barbara.locator("td").nth(3)).to_have_css("text-align", "right")
    expect(panel.locator(".run-row-count")).to_have_text("5 rows")
    expect(page.get_by_label("Ordered since")).to_have_value("2024-03-01")

    # The statistics and history changed in place, without a reload.
    expect(page.locator("#artifact-execution-count")).to_have_text("1")
    history = page.locator("#artifact-run-history .history-row")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Succeeded")
    expect(history.first).to_contain_text("analyst")
    expect(history.first).to_contain_text("since=2024-03-01")
    assert_same_document(page)

    # A second run with another date adds to the history.
    page.get_by_label("Ordered since").fill("2024-04-01")
    panel.get_by_role("button", name="Run").click()
    expect(panel.locator(".run-row-count")).to_have_text("2 rows")
    expect(page.locator("#artifact-execution-count")).to_have_text("2")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("since=2024-04-01")

    # The CSV link carries the date typed in the form, even before it is run.
    page.get_by_label("Ordered since").fill("2024-03-20")
    with page.expect_download() as download_info:
        panel.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename == "orders-since.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0] == ["id", "name", "email", "total", "ordered_at"]
    assert [row[0] for row in rows[1:]] == ["8", "9", "10"]
    assert rows[1] == ["8", "Barbara Liskov", "", "640.0", "2024-03-21 11:11:00"]
    assert ArtifactRun.objects.filter(artifact=orders).count() == 3


def test_run_from_the_chat_card(page: Page, live_server, demo):
    orders = demo["orders"]
    sign_in(page)
    page.get_by_role("link", name=re.compile("Orders this spring")).click()
    card = page.locator(f"[data-artifact-card='{orders.pk}']")
    expect(card).to_contain_text("0 runs")

    mark_document(page)
    card.get_by_role("button", name="Run").click()
    rows = page.locator(
        f"[data-artifact-card='{orders.pk}'] .artifact-card-run table.result-table tbody tr"
    )
    expect(rows).to_have_count(10)  # every order since the default date
    expect(rows.first).to_contain_text("Ada Lovelace")
    expect(rows.nth(7).locator(".null-badge")).to_have_text("NULL")  # Barbara has no email
    expect(page.locator(f"[data-artifact-card='{orders.pk}']")).to_contain_text("1 run")
    assert_same_document(page)


def test_run_without_javascript(page_without_js: Page, live_server, demo):
    page, orders = page_without_js, demo["orders"]
    sign_in(page)
    page.goto(orders.get_absolute_url())
    page.get_by_label("Ordered since").fill("2024-04-01")
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    expect(page).to_have_url(re.compile(rf"/artifacts/{orders.pk}/run/$"))
    rows = page.locator("table.result-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Alan Turing")
    expect(page.locator("#artifact-execution-count")).to_have_text("1")
    expect(page.locator("#artifact-run-history .history-row")).to_have_count(1)

    # The card's Run works as a plain form too: it runs and lands on the artifact page.
    page.goto(demo["chat"].get_absolute_url())
    page.locator(f"[data-artifact-card='{orders.pk}']").get_by_role("button", name="Run").click()
    # With the values it ran with in the URL: the page opens on that run.
    expect(page).to_have_url(
        re.compile(rf"/artifacts/{orders.pk}/\?since=2024-01-01#artifact-run-panel$")
    )
    expect(page.get_by_role("status").first).to_contain_text("with its default values: 10 rows")
    expect(page.locator("#artifact-run-history .history-row")).to_have_count(2)
