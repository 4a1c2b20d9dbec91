"""The schema browser in a browser: a foreign key's link opens the table it joins to, and
each table's sample rows open on demand."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from apps.datasources.schema import clear_schema_cache
from tests.browser.test_csp import watch_csp
from tests.conftest import UserFactory
from tests.datasources import sample

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(transactional_db, tmp_path, settings, live_server, page: Page) -> Iterator[Page]:
    """The signed-in page on the shop's schema; a Content-Security-Policy violation fails."""
    sample.use_sqlite(tmp_path, settings, name="shop")
    clear_schema_cache()
    user = UserFactory(username="analyst")
    page.context.add_cookies([_session_cookie(user, live_server.url)])
    violations = watch_csp(page)
    yield page
    assert not violations, f"Content-Security-Policy violations: {violations}"


def _session_cookie(user, url: str) -> dict:
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}


def test_a_foreign_key_link_opens_the_table_it_joins_to(shop: Page):
    page = shop
    page.goto(reverse("datasources:data_source_detail", args=["shop"]))
    orders = page.locator("#table-orders")
    customers = page.locator("#table-customers")
    orders.locator("summary").first.click()
    expect(orders.locator(".schema-rows")).to_have_text("≈ 10 rows")
    expect(customers).not_to_have_attribute("open", "")

    orders.get_by_role("link", name=re.compile(r"customers\.id")).click()

    expect(page).to_have_url(re.compile(r"#table-customers$"))
    expect(customers).to_have_attribute("open", "")
    expect(customers.locator("summary").first).to_be_in_viewport()
    # And back along the key: "Referenced by" leads to orders.
    customers.get_by_role("link", name="orders.customer_id").click()
    expect(page).to_have_url(re.compile(r"#table-orders$"))


def test_sample_rows_open_on_demand_and_expand_all_leaves_them_closed(shop: Page):
    page = shop
    page.goto(reverse("datasources:data_source_detail", args=["shop"]))
    page.get_by_role("button", name="Expand all").click()
    customers = page.locator("#table-customers")
    expect(customers).to_have_attribute("open", "")
    samples = customers.locator("details.schema-sample")
    expect(samples).not_to_have_attribute("open", "")
    expect(customers.get_by_text("Ada Lovelace")).to_be_hidden()

    samples.locator("summary").click()

    expect(customers.get_by_text("Ada Lovelace")).to_be_visible()
    expect(samples.locator("tbody tr")).to_have_count(5)


def test_a_link_from_a_filtered_page_opens_the_table_on_the_whole_list(shop: Page):
    page = shop
    url = reverse("datasources:data_source_detail", args=["shop"])
    page.goto(f"{url}?q=orders")
    page.locator("#table-orders").get_by_role("link", name=re.compile(r"categories\.id")).click()
    expect(page).to_have_url(re.compile(rf"{re.escape(url)}#table-categories$"))
    expect(page.locator("#table-categories")).to_have_attribute("open", "")
    expect(page.locator("details.schema-table")).to_have_count(4)
