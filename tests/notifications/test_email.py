"""send_email: through Django's email backend, once per user and key."""

from __future__ import annotations

from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail

from apps.jobs.runner import TransientError
from apps.notifications.models import DeliveryStatus, EmailDelivery
from apps.notifications.services import send_email

pytestmark = pytest.mark.django_db

CSV = b"status,orders\r\ncancelled,12\r\n"
PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


def test_sends_text_html_and_attachments(owner):
    sent = send_email(
        owner,
        key="subscription:3:run:9",
        subject="Orders by status",
        text="cancelled: 12",
        html="<p>cancelled: <b>12</b></p>",
        attachments=[("orders.csv", CSV, "text/csv"), ("chart.png", PNG, "image/png")],
    )
    assert sent is True
    [message] = mail.outbox
    assert message.to == ["owner@example.com"]
    assert message.subject == "Orders by status"
    assert message.body == "cancelled: 12"
    assert message.alternatives[0][0] == "<p>cancelled: <b>12</b></p>"
    assert [(name, content, kind) for name, content, kind in message.attachments] == [
        ("orders.csv", CSV.decode(), "text/csv"),
        ("chart.png", PNG, "image/png"),
    ]
    delivery = EmailDelivery.objects.get(user=owner, key="subscription:3:run:9")
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.sent_at


def test_sends_once_per_key(owner):
    assert send_email(owner, key="alert:1:run:2", subject="Alert", text="x")
    assert not send_email(owner, key="alert:1:run:2", subject="Alert", text="x")
    assert send_email(owner, key="alert:1:run:3", subject="Alert", text="x")
    assert len(mail.outbox) == 2


def test_a_user_without_an_address_gets_nothing(owner):
    owner.email = ""
    owner.save()
    assert send_email(owner, key="k", subject="s", text="t") is False
    assert mail.outbox == []


def test_a_newline_in_the_subject_does_not_break_the_mail(owner):
    assert send_email(owner, key="k", subject="Orders\nBcc: someone@evil.example", text="t")
    assert mail.outbox[0].subject == "Orders Bcc: someone@evil.example"


def test_a_mail_server_failure_is_transient_and_the_next_call_sends(owner, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    original = EmailBackend.send_messages

    def down(self, messages):
        raise SMTPServerDisconnected("connection unexpectedly closed")

    monkeypatch.setattr(EmailBackend, "send_messages", down)
    with pytest.raises(TransientError):
        send_email(owner, key="k", subject="s", text="t")
    assert EmailDelivery.objects.get(key="k").status == DeliveryStatus.FAILED
    monkeypatch.setattr(EmailBackend, "send_messages", original)
    assert send_email(owner, key="k", subject="s", text="t") is True
    assert len(mail.outbox) == 1
