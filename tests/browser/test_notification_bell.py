"""The bell in a real browser: its count arrives after the page, its menu opens with the
latest notifications, opening one goes where it points; and without JavaScript the bell is a
link to the notifications page, whose forms work as plain POSTs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.notifications.models import Notification
from tests.browser.test_csp import watch_csp
from tests.browser.test_pages_flow import sign_in
from tests.conftest import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def analyst(transactional_db):
    user = UserFactory(username="analyst")
    NotificationFactory(user=user, title="Orders by status refreshed", url="/library/")
    NotificationFactory(user=user, title="Cancelled orders above 10", url="/artifacts/")
    NotificationFactory(user=UserFactory(username="someone"), title="Not the analyst's")
    return user


def test_the_bell_counts_opens_and_follows(page: Page, live_server, analyst):
    violations = watch_csp(page)
    sign_in(page)
    bell = page.locator("#notification-bell")
    expect(bell.locator("[data-unread-count]")).to_have_text(re.compile(r"^2"))

    bell.click()
    menu = page.locator("#notification-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("button", name=re.compile("Cancelled orders above 10"))).to_be_visible()
    expect(menu).not_to_contain_text("Not the analyst's")

    menu.get_by_role("button", name=re.compile("Orders by status refreshed")).click()
    expect(page).to_have_url(re.compile(r"/library/$"))
    assert Notification.objects.get(title="Orders by status refreshed").is_read
    expect(page.locator("#notification-bell [data-unread-count]")).to_have_text(re.compile(r"^1"))

    page.locator("#notification-bell").click()
    page.locator("#notification-menu").get_by_role("button", name="Mark all read").click()
    expect(page).to_have_url(re.compile(r"/library/$"))
    expect(page.locator("#notification-bell")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#notification-bell [data-unread-count]")).to_have_count(0)
    assert not Notification.objects.filter(user=analyst).unread().exists()
    assert not violations, violations


def test_without_javascript_the_bell_is_a_link(page_without_js: Page, live_server, analyst):
    page = page_without_js
    sign_in(page)
    page.locator("#notification-bell").click()
    expect(page).to_have_url(re.compile(r"/notifications/$"))
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.get_by_text("Orders by status refreshed")).to_be_visible()

    page.get_by_role("button", name="Mark all read").click()
    expect(page).to_have_url(re.compile(r"/notifications/$"))
    expect(page.get_by_role("link", name="Unread (0)")).to_be_visible()
