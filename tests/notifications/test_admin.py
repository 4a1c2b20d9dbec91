"""The admin: notifications and deliveries listed without a query per row, and the retry."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.notifications.models import DeliveryStatus, WebhookDelivery
from apps.notifications.services import send_email
from apps.notifications.webhooks import send_webhook, webhook_secret
from tests.notifications.factories import NotificationFactory
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db

WEBHOOKS = reverse("admin:notifications_webhookdelivery_changelist")


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_ALLOW_HTTP = True


def _failed_deliveries(count: int, url: str) -> list[WebhookDelivery]:
    return [
        send_webhook(url, key=f"k{n}", payload={"n": n}, secret=webhook_secret("s"))
        for n in range(count)
    ]


def test_notification_list(staff_client, owner, assert_get_queries):
    NotificationFactory.create_batch(3, user=owner)
    url = reverse("admin:notifications_notification_changelist")
    assert_get_queries(staff_client, url, most=8)
    NotificationFactory.create_batch(20, user=owner)
    assert_get_queries(staff_client, url, most=8)


def test_email_list(staff_client, owner, assert_get_queries):
    send_email(owner, key="a", subject="Orders", text="x")
    assert_get_queries(
        staff_client, reverse("admin:notifications_emaildelivery_changelist"), most=8
    )


def test_webhook_list_shows_status_attempts_and_errors(staff_client, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOKS_ALLOW_HTTP = True
    _failed_deliveries(2, "http://127.0.0.1:9/hook")
    content = staff_client.get(WEBHOOKS).content.decode()
    assert "Failed" in content and "127.0.0.1:9" in content
    assert "loopback, private or reserved address" in content


def test_webhook_list_costs_no_query_per_row(staff_client, settings, assert_get_queries):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOKS_ALLOW_HTTP = True
    _failed_deliveries(2, "http://127.0.0.1:9/hook")
    assert_get_queries(staff_client, WEBHOOKS, most=8)
    _failed_deliveries(22, "http://127.0.0.1:9/other")
    assert_get_queries(staff_client, WEBHOOKS, most=8)


def test_retry_delivers_a_delivery_that_gave_up(staff_client, loopback_allowed):
    with Receiver(statuses=[404]) as receiver:
        [delivery] = _failed_deliveries(1, receiver.url)
        assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED
        response = staff_client.post(
            WEBHOOKS, {"action": "retry", "_selected_action": [delivery.pk]}, follow=True
        )
    assert "Queued 1 delivery again." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert len(receiver.requests) == 2


def test_retry_leaves_delivered_ones_alone(staff_client, loopback_allowed):
    with Receiver() as receiver:
        [delivery] = _failed_deliveries(1, receiver.url)
        response = staff_client.post(
            WEBHOOKS, {"action": "retry", "_selected_action": [delivery.pk]}, follow=True
        )
    assert "was not retried" in response.content.decode()
    assert len(receiver.requests) == 1


def test_the_change_page_shows_the_delivery(staff_client, loopback_allowed):
    with Receiver() as receiver:
        [delivery] = _failed_deliveries(1, receiver.url)
    url = reverse("admin:notifications_webhookdelivery_change", args=[delivery.pk])
    response = staff_client.get(url)
    assert response.status_code == 200
    assert delivery.key in response.content.decode()


def test_users_cannot_open_the_admin(client, owner):
    client.force_login(owner)
    assert client.get(WEBHOOKS).status_code == 302
