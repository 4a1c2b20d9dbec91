"""A person runs "last month" from the artifact page: the date inputs hold the relative
expressions with the dates they mean today, the status is a select of the values its column
holds, and the run records March's dates, with JavaScript and without."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.llm_artifact.models import ArtifactRun
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.browser

LAST_MONTH = (
    "SELECT id, status, ordered_at FROM orders\n"
    "WHERE ordered_at >= :start AND ordered_at < :end AND status = :status\n"
    "ORDER BY id"
)

LAST_MONTH_START = "start_of_month -1 month"


@pytest.fixture
def last_month(transactional_db, tmp_path: Path, settings, monkeypatch):
    sample.use_sqlite(tmp_path, settings)
    # April 20, 2024 on the server: last month is March.
    moment = dt.datetime(2024, 4, 20, 12, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    user = UserFactory(username="analyst")
    return ArtifactFactory(
        owner=user,
        title="Orders last month",
        sql_query=LAST_MONTH,
        query_params=[
            {
                "name": "start",
                "type": "date",
                "label": "From",
                "default": "start_of_month -1 month",
            },
            {"name": "end", "type": "date", "label": "Before", "default": "start_of_month"},
            {
                "name": "status",
                "type": "string",
                "label": "Status",
                "default": "delivered",
                "choices_from": {"table": "orders", "column": "status"},
            },
        ],
    )


def run_last_month(page: Page, artifact) -> None:
    sign_in(page)
    page.goto(artifact.get_absolute_url())
    expect(page.get_by_label("From")).to_have_value("start_of_month -1 month")
    expect(page.get_by_text("default start_of_month -1 month (2024-03-01 today)")).to_be_visible()
    status = page.get_by_label("Status")
    expect(status.locator("option")).to_have_text(
        ["cancelled", "delivered", "new", "paid", "returned", "shipped"]
    )
    status.select_option("returned")
    page.locator("#artifact-run-panel").get_by_role("button", name="Run").click()
    table = page.locator("#artifact-run-panel table.result-table")
    expect(table.locator("tbody tr")).to_have_count(1)  # order 8, returned on March 21
    expect(table).to_contain_text("2024-03-21")


def test_run_last_month_with_a_column_choice(page: Page, live_server, last_month):
    run_last_month(page, last_month)
    # The address keeps the expressions; the run keeps the dates.
    assert "start=start_of_month+-1+month" in page.url
    assert ArtifactRun.objects.get().params == {
        "start": "2024-03-01",
        "end": "2024-04-01",
        "status": "returned",
    }


def test_run_last_month_without_javascript(page_without_js: Page, live_server, last_month):
    run_last_month(page_without_js, last_month)
    assert ArtifactRun.objects.get().params["start"] == "2024-03-01"
