"""Filling a shipped template on the demo marketplace: open it, press "Use this template",
choose the table (its columns arrive by htmx; without JavaScript by "Update choices"),
preview the rows, save, and land on one's own new artifact."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.datasources import demo
from apps.datasources.schema import clear_schema_cache
from apps.llm_artifact.management.commands.install_templates import install_templates
from apps.llm_artifact.models import Artifact
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser
GROWTH = "Period-over-period growth"


@pytest.fixture
def marketplace(transactional_db, tmp_path: Path, settings):
    path = tmp_path / "marketplace.sqlite3"
    demo.write_sqlite(demo.build_dataset(0.01, today=dt.date.today()), path)
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = "marketplace"
    clear_schema_cache()
    install_templates()
    UserFactory(username="analyst")
    return Artifact.objects.get(title=GROWTH)


def test_fill_a_shipped_template_preview_and_save(page: Page, live_server, marketplace):
    sign_in(page)
    page.goto(marketplace.get_absolute_url())
    page.get_by_role("link", name="Use this template").click()
    expect(page.get_by_role("heading", name=f"Use the template “{GROWTH}”")).to_be_visible()
    date_column = page.get_by_label("Date (Date column)")
    expect(date_column).to_contain_text("Choose its table first")
    page.get_by_label("Table (Table)").select_option("orders")
    # The columns of orders arrive without leaving the page.
    expect(
        page.get_by_label("Date (Date column)").locator("option[value=ordered_at]")
    ).to_have_count(1)
    # The choices so far are in the address (linkable), without the CSRF token.
    expect(page).to_have_url(re.compile(r"slot_table=orders"))
    assert "csrf" not in page.url
    page.get_by_label("Date (Date column)").select_option("ordered_at")
    page.get_by_label("Sum of (Measure (numeric column))").select_option("total")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#template-preview-result")).to_contain_text("(not saved)")
    expect(page.locator("#template-preview-result th").first).to_have_text("period")
    page.get_by_label("Title of the new artifact").fill("Monthly revenue growth")
    page.get_by_role("button", name="Save as my artifact").click()
    expect(page.get_by_role("heading", name="Monthly revenue growth")).to_be_visible()
    made = Artifact.objects.get(title="Monthly revenue growth")
    assert made.owner.username == "analyst" and made.template == marketplace
    assert page.url.endswith(made.get_absolute_url())


def test_fill_a_shipped_template_without_javascript(
    page_without_js: Page, live_server, marketplace
):
    page = page_without_js
    sign_in(page)
    page.goto(f"/artifacts/{marketplace.pk}/use/")
    page.get_by_label("Table (Table)").select_option("orders")
    page.get_by_role("button", name="Update choices").click()
    expect(
        page.get_by_label("Date (Date column)").locator("option[value=ordered_at]")
    ).to_have_count(1)
    page.get_by_label("Date (Date column)").select_option("ordered_at")
    page.get_by_label("Sum of (Measure (numeric column))").select_option("total")
    page.get_by_role("button", name="Save as my artifact").click()
    expect(page.get_by_role("heading", name=GROWTH)).to_be_visible()
    assert Artifact.objects.filter(template=marketplace, owner__username="analyst").count() == 1
