"""Issue 15's "done when": schedule the demo's "Orders by status" every minute with an alert
when cancelled orders exceed a threshold; the refresh happens on a real worker (django-tasks-db's
worker loop and the periodic pass, in threads of this process, on the test database); the
notification appears in the bell, the email in the console backend's output, and a webhook to a
loopback receiver (allowed by a test setting) gets a body signed with the alert's secret."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import Page, expect

from apps.datasources import demo as dataset
from apps.datasources.schema import clear_schema_cache
from apps.jobs.runner import run_periodic
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.demo import seed_app_demo
from apps.notifications.webhooks import verify_signature
from apps.schedules.models import Refresh, Schedule
from tests.schedules.receiver import Receiver

pytestmark = pytest.mark.browser
ALERT_TITLE = "Alert Cancelled orders: Orders by status"


@pytest.fixture
def demo(transactional_db, tmp_path: Path, settings):
    path = tmp_path / "marketplace.sqlite3"
    dataset.write_sqlite(dataset.build_dataset(0.01, today=dt.date.today()), path)
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = "marketplace"
    clear_schema_cache()
    seed_app_demo(as_of=dt.date.today())
    return Artifact.objects.get(title="Orders by status")


@pytest.fixture
def receiver(settings):
    # Loopback over plain HTTP: refused in production, allowed here by the test settings.
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_ALLOW_HTTP = True
    server = Receiver()
    yield server
    server.close()


class WorkerThread:
    """`manage.py worker` in a thread: the periodic pass every worker runs (enqueueing due
    schedules), then django-tasks-db's worker loop over what is queued on the database.

    SQLite's in-memory test database is one connection that threads share (as the live
    server's thread does); two connections to it lock each other's tables. So the thread uses
    the test's connection, and the test waits on what the receiver gets, not on the database.
    """

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.shared = connections["default"] if connection.vendor == "sqlite" else None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self.shared is not None:
            connections["default"] = self.shared
        try:
            while not self.stopped.wait(0.2):
                run_periodic()
                Worker(
                    queue_names=["*"],
                    interval=0,
                    batch=True,
                    backend_name="default",
                    startup_delay=False,
                    max_tasks=None,
                    worker_id="browser-test-worker",
                    excluded_queue_names=[],
                ).run()
        finally:
            if self.shared is None:
                connection.close()

    def __enter__(self) -> WorkerThread:
        if self.shared is not None:
            self.shared.inc_thread_sharing()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(30)
        if self.shared is not None:
            self.shared.dec_thread_sharing()


def wait_for(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out waiting for {what}")
        time.sleep(0.2)


def sign_in_as_demo(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill(django_settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/chats/"))


def schedule_with_alert(page: Page, artifact: Artifact, webhook_url: str) -> str:
    """Through the page: every minute, an alert on cancelled orders, email and a webhook.
    Returns the webhook secret the page shows."""
    page.goto(artifact.get_absolute_url())
    page.get_by_role("link", name="Schedule & alerts").click()
    expect(page.get_by_role("heading", name=re.compile("Schedule & alerts of"))).to_be_visible()

    page.get_by_label("Repeats").select_option(label="Every N minutes")
    page.get_by_label("Every (minutes)").fill("1")
    page.get_by_role("button", name="Add schedule").click()
    schedule = page.locator(".schedule")
    expect(schedule.get_by_role("heading", level=2)).to_contain_text("Every minute")
    expect(schedule.locator(".schedule-next-run")).not_to_have_text("—")

    page.get_by_text("Add an alert").click()
    page.get_by_label("Name").fill("Cancelled orders")
    page.get_by_label("When").select_option(label="A column's value crosses a threshold")
    page.get_by_label("Column", exact=True).fill("orders")
    page.get_by_label("Operator").select_option(">")
    page.get_by_label("Threshold").fill("0")
    page.get_by_label("Only rows where column").fill("status")
    page.get_by_label("Equals").fill("cancelled")
    page.get_by_role("button", name="Add alert").click()
    alert = page.locator(".alert-row")
    expect(alert).to_contain_text("orders > 0 where status = cancelled")
    expect(alert.locator(".subscription")).to_contain_text("demo · In-app notification")

    alert.get_by_label("Channel").select_option(label="Email")
    alert.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".alert-row .subscription")).to_have_count(2)
    alert = page.locator(".alert-row")
    alert.get_by_label("Channel").select_option(label="Webhook")
    alert.get_by_label("Webhook URL").fill(webhook_url)
    alert.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".alert-row .subscription")).to_have_count(3)
    return page.locator(".webhook-secret").inner_text()


def test_a_scheduled_refresh_on_the_worker_alerts_in_the_bell_by_email_and_webhook(
    page: Page, live_server, demo, receiver, settings, capsys
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    sign_in_as_demo(page)
    secret = schedule_with_alert(page, demo, receiver.url)
    schedule = Schedule.objects.get(artifact=demo)
    assert schedule.owner.username == "demo" and schedule.next_run_at > timezone.now()

    # The minute comes round (rather than wait for the next whole minute).
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now())
    with WorkerThread():
        # The webhook goes out after the refresh and its email and notification.
        wait_for(lambda: receiver.received, what="the refresh and its webhook")

    assert Refresh.objects.get(schedule=schedule).outcome == "ok"

    run = ArtifactRun.objects.get(artifact=demo)
    assert run.user.username == "demo" and run.outcome == "ok"

    page.reload()
    expect(page.locator(".schedule-last-outcome")).to_contain_text("Refreshed")
    expect(page.locator(".alert-last-outcome")).to_contain_text("last fired")
    bell = page.locator("#notification-bell")
    expect(bell.locator("[data-unread-count]")).to_have_text(re.compile(r"^1"))
    bell.click()
    expect(page.locator("#notification-menu")).to_contain_text(ALERT_TITLE)

    printed = capsys.readouterr().out
    assert f"Subject: {ALERT_TITLE}" in printed
    assert "To: demo@example.com" in printed
    assert 'filename="result.csv"' in printed and 'filename="chart.png"' in printed

    [request] = receiver.received
    assert verify_signature(request["body"], request["headers"]["X-Signature"], secret)
    body = json.loads(request["body"])
    assert body["run"]["id"] == run.pk
    assert body["condition"]["description"] == "orders > 0 where status = cancelled"
    assert any(row[0] == "cancelled" for row in body["rows"])


def test_without_javascript_the_schedule_forms_work(page_without_js: Page, live_server, demo):
    page = page_without_js
    sign_in_as_demo(page)
    page.goto(demo.get_absolute_url())
    page.get_by_role("link", name="Schedule & alerts").click()
    page.get_by_label("Repeats").select_option(label="Weekly")
    page.get_by_label("At time").fill("08:00")
    page.get_by_role("button", name="Add schedule").click()
    # A weekly schedule without its day: the page again, with the error beside the field.
    expect(page.get_by_text("Say on which day of the week.")).to_be_visible()
    page.get_by_label("On", exact=True).select_option(label="Monday")
    page.get_by_role("button", name="Add schedule").click()
    expect(page.locator(".schedule h2")).to_contain_text("Weekly on Monday at 08:00")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".schedule h2")).to_contain_text("Paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".schedule h2")).to_contain_text("Active")
    assert Schedule.objects.get(artifact=demo).weekday == 0
