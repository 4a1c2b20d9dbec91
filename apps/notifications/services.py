"""Telling users things: in-app notifications and email.

The API that other apps call (webhooks are in `apps/notifications/webhooks.py`):

- `notify_in_app(user, *, key, title, body="", url="") -> Notification | None`: a
  notification in the user's bell. One per (user, key): None when that key was already
  notified, so a job that runs twice never notifies twice. `url` is a path on this site.
- `send_email(user, *, key, subject, text, html=None, attachments=()) -> bool`: an email to
  the user's address through Django's email backend (EMAIL_BACKEND; the console backend by
  default). `attachments` are (filename, bytes, mimetype) triples. Sent once per (user, key):
  False when it was already sent for that key (or the user has no address). The text is the
  caller's, already in the user's language. A failure of the mail server raises
  `TransientError` (a job retries it); the next call for the key tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from apps.jobs.runner import TransientError
from apps.notifications.models import DeliveryStatus, EmailDelivery, Notification

logger = logging.getLogger(__name__)

# An email "sending" for longer than this was lost with its worker: the next call sends it.
EMAIL_SENDING_STALE_AFTER = timedelta(minutes=5)


def is_site_path(url: str) -> bool:
    """A path on this site ("/artifacts/12/"), not a link elsewhere ("//evil.example")."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


def notify_in_app(
    user, *, key: str, title: str, body: str = "", url: str = ""
) -> Notification | None:
    """Add a notification to `user`'s bell, once per key (None when the key was notified)."""
    if url and not is_site_path(url):
        raise ValueError(f"A notification links to a path on this site, not {url!r}.")
    if Notification.objects.filter(user=user, key=key).exists():
        return None
    try:
        with transaction.atomic():
            return Notification.objects.create(
                user=user,
                key=key[:200],
                title=Truncator(" ".join(title.split())).chars(200),
                body=body,
                url=url,
            )
    except IntegrityError:
        # Another process notified the same key between our look and our insert.
        return None


def send_email(
    user,
    *,
    key: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Iterable[tuple[str, bytes, str]] = (),
) -> bool:
    """Email `user` once per key; True when it was sent now."""
    if not user.email:
        return False
    # Mail headers are one line: a newline in a subject would be refused by Django.
    subject = Truncator(" ".join(subject.split())).chars(300)
    delivery = _claim_email(user, key[:200], subject)
    if delivery is None:
        return False
    message = EmailMultiAlternatives(subject=subject, body=text, to=[user.email])
    if html:
        message.attach_alternative(html, "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    try:
        message.send()
    except OSError as error:  # smtplib's errors, refused connections, timeouts
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, error=str(error) or error.__class__.__name__
        )
        raise TransientError(_("The mail server did not take the email: %s") % error) from error
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DELIVERED, sent_at=timezone.now(), error=""
    )
    return True


def _claim_email(user, key: str, subject: str) -> EmailDelivery | None:
    """The delivery record this call may send, or None when the key is sent or being sent."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return EmailDelivery.objects.create(
                user=user, key=key, to=user.email, subject=subject, attempted_at=now
            )
    except IntegrityError:
        pass
    # Tried before: send again only if that try failed or died; one caller wins the UPDATE.
    claimable = Q(status=DeliveryStatus.FAILED) | Q(
        status=DeliveryStatus.SENDING, attempted_at__lt=now - EMAIL_SENDING_STALE_AFTER
    )
    claimed = EmailDelivery.objects.filter(claimable, user=user, key=key).update(
        status=DeliveryStatus.SENDING, attempted_at=now, to=user.email, error=""
    )
    if not claimed:
        return None
    return EmailDelivery.objects.get(user=user, key=key)
