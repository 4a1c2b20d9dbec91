"""Alert conditions, and what subscribers get on each channel."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from types import SimpleNamespace

import pytest
from django.core import mail
from django.utils import timezone

from apps.notifications.models import Notification
from apps.notifications.webhooks import verify_signature, webhook_secret
from apps.schedules import services
from apps.schedules.conditions import fires
from apps.schedules.models import Alert, Schedule
from tests.conftest import UserFactory, share
from tests.schedules.factories import AlertFactory, SubscriptionFactory

COLUMNS = ["status", "orders"]
ROWS = [["cancelled", 4], ["paid", 10]]


def alert(**fields):
    defaults = {
        "condition": "threshold",
        "column": "orders",
        "operator": ">",
        "threshold": 3,
        "filter_column": "",
        "filter_value": "",
    }
    return SimpleNamespace(**{**defaults, **fields})


def check(a, rows=ROWS, rows_hash="h", previous_hash=""):
    return fires(a, COLUMNS, rows, rows_hash=rows_hash, previous_hash=previous_hash)[0]


@pytest.mark.parametrize(
    ("operator", "threshold", "fired"),
    [(">", 4, False), (">=", 4, True), ("<", 4, False), ("<=", 4, True), (">", 9, False)],
)
def test_threshold_on_the_selected_rows(operator, threshold, fired):
    only_cancelled = alert(
        operator=operator, threshold=threshold, filter_column="status", filter_value="cancelled"
    )
    assert check(only_cancelled) is fired


def test_threshold_in_any_row():
    assert check(alert(operator=">", threshold=9)) is True
    assert check(alert(operator=">", threshold=10)) is False


def test_threshold_on_a_missing_column_does_not_fire_and_says_why():
    fired, why = fires(alert(column="total"), COLUMNS, ROWS, rows_hash="", previous_hash="")
    assert not fired and "no column 'total'" in why


def test_has_rows():
    assert check(alert(condition="has_rows")) is True
    assert check(alert(condition="has_rows"), rows=[]) is False


def test_changed_compares_with_the_previous_result():
    changed = alert(condition="changed")
    assert check(changed, rows_hash="a", previous_hash="") is False  # the first result
    assert check(changed, rows_hash="a", previous_hash="a") is False
    assert check(changed, rows_hash="b", previous_hash="a") is True


def test_always_fires():
    assert check(alert(condition="always"), rows=[]) is True


@pytest.mark.django_db
def test_a_threshold_alert_needs_its_column_operator_and_value():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        Alert(condition="threshold", name="x").clean()
    assert {"column", "operator", "threshold"} <= set(caught.value.message_dict)


# --- Delivery ----------------------------------------------------------------------------------


def refresh(schedule: Schedule, minutes_ago: int = 1):
    due = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes_ago)
    return services.refresh_schedule(schedule.pk, due)


@pytest.fixture
def cancelled_alert(schedule):
    """Fires when the cancelled orders exceed 0 (the sample has one)."""
    return AlertFactory(schedule=schedule, name="Cancelled orders")


@pytest.mark.django_db
def test_in_app_subscribers_get_a_notification_linking_the_artifact(cancelled_alert, owner):
    SubscriptionFactory(alert=cancelled_alert, user=owner, channel="in_app")
    refresh(cancelled_alert.schedule)
    notification = Notification.objects.get(user=owner)
    assert notification.title == "Alert Cancelled orders: Orders by status"
    assert notification.url == cancelled_alert.schedule.artifact.get_absolute_url()
    assert "orders = 1 > 0" in notification.body
    cancelled_alert.refresh_from_db()
    assert cancelled_alert.last_triggered_at is not None


@pytest.mark.django_db
def test_email_has_the_first_rows_a_csv_and_the_chart(cancelled_alert, owner):
    artifact = cancelled_alert.schedule.artifact
    artifact.visualization_config = {
        "mark": "bar",
        "data": {"name": "results"},
        "encoding": {
            "x": {"field": "status", "type": "nominal"},
            "y": {"field": "orders", "type": "quantitative"},
        },
    }
    artifact.save()
    SubscriptionFactory(alert=cancelled_alert, user=owner, channel="email")
    refresh(cancelled_alert.schedule)
    [email] = mail.outbox
    assert email.to == [owner.email]
    assert "cancelled | 1" in email.body
    html = email.alternatives[0][0]
    assert "<td>cancelled</td>" in html
    files = {name: (content, mimetype) for name, content, mimetype in email.attachments}
    # Django's mail keeps a text/* attachment as text.
    assert files["result.csv"][0].splitlines()[:2] == ["status,orders", "cancelled,1"]
    assert files["result.csv"][1] == "text/csv"
    assert files["chart.png"][0][:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_a_webhook_gets_a_signed_body(cancelled_alert, owner, receiver):
    SubscriptionFactory(
        alert=cancelled_alert, user=owner, channel="webhook", webhook_url=receiver.url
    )
    result = refresh(cancelled_alert.schedule)
    [request] = receiver.received
    secret = webhook_secret(f"alert:{cancelled_alert.pk}")
    assert verify_signature(request["body"], request["headers"]["X-Signature"], secret)
    body = json.loads(request["body"])
    assert body["artifact"]["title"] == "Orders by status"
    assert body["run"]["id"] == result["run"]
    assert body["condition"]["description"] == "orders > 0 where status = cancelled"
    assert ["cancelled", 1] in body["rows"]


@pytest.mark.django_db
def test_a_condition_not_met_tells_nobody(schedule, owner):
    quiet = AlertFactory(schedule=schedule, threshold=5)
    SubscriptionFactory(alert=quiet, user=owner, channel="in_app")
    refresh(schedule)
    assert not Notification.objects.exists()
    quiet.refresh_from_db()
    assert quiet.last_outcome == "No orders > 5."


@pytest.mark.django_db
def test_changed_fires_only_when_the_rows_change(schedule, owner, marketplace):
    changed = AlertFactory(schedule=schedule, condition="changed", name="Changed")
    SubscriptionFactory(alert=changed, user=owner, channel="in_app")
    refresh(schedule, minutes_ago=3)
    refresh(schedule, minutes_ago=2)
    assert not Notification.objects.exists()
    with sqlite3.connect(marketplace) as db:
        db.execute("UPDATE orders SET status = 'cancelled' WHERE id = 1")
    refresh(schedule, minutes_ago=1)
    assert Notification.objects.filter(user=owner).count() == 1


@pytest.mark.django_db
def test_a_subscriber_who_can_no_longer_see_the_artifact_is_not_told(
    cancelled_alert, owner, group_viewer, team
):
    artifact = cancelled_alert.schedule.artifact
    share(artifact, team)
    SubscriptionFactory(alert=cancelled_alert, user=group_viewer, channel="in_app")
    artifact.shares.all().delete()
    stranger = UserFactory(username="stranger")
    SubscriptionFactory(alert=cancelled_alert, user=stranger, channel="email")
    refresh(cancelled_alert.schedule)
    assert not Notification.objects.exists()
    assert not mail.outbox
