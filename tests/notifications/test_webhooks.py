"""Webhooks: signed POSTs to a real HTTP server on loopback, retries, and refused destinations."""

from __future__ import annotations

import json
import time

import pytest
from django import forms

from apps.jobs.models import Job
from apps.notifications import webhooks
from apps.notifications.models import DeliveryStatus, WebhookDelivery
from apps.notifications.webhooks import (
    send_webhook,
    sign,
    validate_webhook_url,
    verify_signature,
    webhook_secret,
)
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db

PAYLOAD = {"alert": "Cancelled orders", "rows": [{"status": "cancelled", "orders": 12}]}


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 5


@pytest.fixture
def loopback_refused(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOKS_ALLOW_HTTP = True


def test_delivers_a_signed_body_with_the_idempotency_key(loopback_allowed):
    secret = webhook_secret("subscription:12")
    with Receiver() as receiver:
        delivery = send_webhook(receiver.url, key="sub:12:run:5", payload=PAYLOAD, secret=secret)
    [request] = receiver.requests
    assert request.path == "/hooks/in"
    assert json.loads(request.body) == PAYLOAD
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "sub:12:run:5"
    assert verify_signature(request.body, request.headers["x-signature"], str(secret))
    # Signed with this scope's secret, not another's.
    assert not verify_signature(
        request.body, request.headers["x-signature"], str(webhook_secret("subscription:13"))
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.status_code == 200 and delivery.attempts == 1 and delivery.delivered_at


def test_the_secret_is_not_stored(loopback_allowed):
    secret = webhook_secret("subscription:12")
    with Receiver() as receiver:
        delivery = send_webhook(receiver.url, key="k", payload=PAYLOAD, secret=secret)
    row = WebhookDelivery.objects.filter(pk=delivery.pk).values().get()
    assert str(secret) not in json.dumps(row, default=str)
    jobs = list(Job.objects.values("arguments", "key", "result", "error"))
    assert jobs and str(secret) not in json.dumps(jobs, default=str)


def test_a_key_is_delivered_once(loopback_allowed):
    secret = webhook_secret("subscription:1")
    with Receiver() as receiver:
        first = send_webhook(receiver.url, key="same", payload=PAYLOAD, secret=secret)
        second = send_webhook(receiver.url, key="same", payload={"other": 1}, secret=secret)
    assert first.pk == second.pk
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.count() == 1


def test_retries_on_500_then_delivers(loopback_allowed):
    with Receiver(statuses=[500, 503]) as receiver:
        delivery = send_webhook(
            receiver.url, key="flaky", payload=PAYLOAD, secret=webhook_secret("s")
        )
    assert [r.headers["idempotency-key"] for r in receiver.requests] == ["flaky"] * 3
    # Every try sends the same bytes.
    assert len({r.body for r in receiver.requests}) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    job = Job.objects.get(pk=delivery.job_id)
    assert job.status == Job.Status.SUCCEEDED
    assert [a.outcome for a in job.attempt_log.order_by("number")] == [
        "retrying",
        "retrying",
        "succeeded",
    ]


def test_gives_up_after_its_attempts(loopback_allowed):
    with Receiver(statuses=[500] * 10) as receiver:
        delivery = send_webhook(
            receiver.url, key="down", payload=PAYLOAD, secret=webhook_secret("s")
        )
    assert len(receiver.requests) == 5
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.status_code == 500 and "500" in delivery.error
    assert Job.objects.get(pk=delivery.job_id).status == Job.Status.FAILED


def test_gives_up_at_once_on_a_4xx(loopback_allowed):
    with Receiver(statuses=[410]) as receiver:
        delivery = send_webhook(
            receiver.url, key="gone", payload=PAYLOAD, secret=webhook_secret("s")
        )
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.status_code == 410
    assert "receiver says no" in delivery.error


def test_a_receiver_that_is_down_is_tried_again(loopback_allowed):
    with Receiver() as receiver:
        url = receiver.url
    # Nothing listens there any more: connection refused on every try.
    delivery = send_webhook(url, key="nobody", payload=PAYLOAD, secret=webhook_secret("s"))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 5
    assert delivery.status_code is None and delivery.error


def test_a_plain_string_secret_is_refused():
    with pytest.raises(ValueError):
        send_webhook("https://example.com/", key="k", payload={}, secret="whsec_guessed")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",  # a name that resolves to 127.0.0.1
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata: link-local
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://240.0.0.1/hook",
    ],
)
def test_private_destinations_are_refused_at_send_time(loopback_refused, url):
    delivery = send_webhook(url, key="k", payload=PAYLOAD, secret=webhook_secret("s"))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "address" in delivery.error
    assert delivery.status_code is None


def test_a_name_that_resolves_to_loopback_when_sent_is_refused(loopback_refused, monkeypatch):
    # DNS rebinding: public when the URL was entered, loopback when the worker sends.
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: next(answers))
    validate_webhook_url("http://rebind.example/hook")
    with Receiver() as receiver:
        delivery = send_webhook(
            "http://rebind.example/hook", key="k", payload=PAYLOAD, secret=webhook_secret("s")
        )
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and "127.0.0.1" in delivery.error


def test_connects_to_the_checked_address_not_a_second_lookup(loopback_allowed, monkeypatch):
    # The host name resolves once; the connection goes to that address (here the receiver's)
    # with the name in the Host header.
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        lookups = []

        def resolve(host, port):
            lookups.append(host)
            return ["127.0.0.1"]

        monkeypatch.setattr(webhooks, "resolve", resolve)
        send_webhook(
            f"http://hooks.example:{port}/in", key="k", payload=PAYLOAD, secret=webhook_secret("s")
        )
    assert lookups == ["hooks.example"]
    assert receiver.requests[0].headers["host"] == f"hooks.example:{port}"


def test_plain_http_is_refused_unless_allowed(settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    delivery = send_webhook(
        "http://127.0.0.1:9/hook", key="k", payload=PAYLOAD, secret=webhook_secret("s")
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and "HTTPS" in delivery.error


class HookForm(forms.Form):
    url = forms.URLField(assume_scheme="https", validators=[validate_webhook_url])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "HTTPS"),
        ("https://127.0.0.1/hook", "address"),
        ("https://localhost/hook", "address"),
        ("https://user:pw@127.0.0.1/", "password"),
        ("ftp://example.com/", "https://"),
    ],
)
def test_a_refused_url_is_a_field_error(loopback_refused, settings, url, message):
    settings.WEBHOOKS_ALLOW_HTTP = False
    form = HookForm({"url": url})
    assert not form.is_valid()
    assert message in " ".join(form.errors["url"])


def test_an_allowed_url_passes_the_form(loopback_refused, monkeypatch):
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: ["93.184.215.14"])
    assert HookForm({"url": "https://hooks.example/in"}).is_valid()


def test_verify_signature_checks_time_and_body():
    body = b'{"a": 1}'
    secret = str(webhook_secret("x"))
    header = sign(body, secret)
    assert verify_signature(body, header, secret)
    assert not verify_signature(b'{"a": 2}', header, secret)
    assert not verify_signature(body, header, "whsec_other")
    old = sign(body, secret, timestamp=int(time.time()) - 3600)
    assert not verify_signature(body, old, secret, tolerance=300)
    assert not verify_signature(body, "garbage", secret)


def test_the_secret_depends_on_scope_and_secret_key(settings):
    first = webhook_secret("subscription:1")
    assert first == webhook_secret("subscription:1")
    assert first != webhook_secret("subscription:2")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-000000000000"
    assert first != webhook_secret("subscription:1")
