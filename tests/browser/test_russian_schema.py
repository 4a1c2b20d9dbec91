"""The data source page in Russian in a browser: its texts, and a failed request's alert
from htmx-errors.js, translated through the JavaScript catalog."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.test_schema_browser import shop  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


def test_a_filter_that_cannot_reach_the_server_says_so_in_russian(shop: Page):  # noqa: F811
    page = shop
    page.set_extra_http_headers({"Accept-Language": "ru"})
    page.goto(reverse("datasources:data_source_detail", args=["shop"]))
    expect(page.locator("h1")).to_contain_text("shop")
    expect(page.get_by_label("Фильтр таблиц и столбцов")).to_be_visible()
    expect(page.get_by_role("button", name="Развернуть все")).to_be_visible()

    page.route("**/data-sources/shop/?q=*", lambda route: route.abort())
    page.get_by_label("Фильтр таблиц и столбцов").fill("orders")
    alert = page.locator(".htmx-error")
    expect(alert).to_contain_text("удалось связаться")
    expect(alert).to_contain_text("Проверьте подключение и попробуйте снова.")
    expect(alert.get_by_role("button", name="Закрыть")).to_be_visible()
