"""Webhooks: signed JSON POSTs to other systems, delivered by a worker with retries.

The API that other apps call:

- `send_webhook(url, *, key, payload, secret) -> WebhookDelivery`: records a delivery (one per
  idempotency `key`: calling again with the key returns the first one) and enqueues the job
  that POSTs it (`apps.notifications.tasks.deliver_webhook`). `secret` is what
  `webhook_secret(scope)` returned: the delivery keeps only its scope and the worker derives
  the secret again when it signs, so no secret is stored in the database.
- `webhook_secret(scope) -> str`: the signing secret for a scope ("subscription:12"), an HMAC
  of the scope with SECRET_KEY. Show it to the owner on their page; never store it.
- `verify_signature(body, header, secret, tolerance=300) -> bool`: what a receiver does with
  the X-Signature header (tests use it).
- `validate_webhook_url(url)`: a validator for forms and serializers (a field error for a
  URL that is not HTTPS, or whose host is or resolves to a forbidden address).

Each POST carries `Content-Type: application/json`, `Idempotency-Key: <key>` (receivers
dedupe by it: a worker that died after sending is followed by another that sends again) and
`X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
2xx is delivered; 5xx, 408, 429, timeouts and connection errors are tried again with back-off;
any other answer (4xx, a redirect) gives up.

Destinations: HTTPS only unless WEBHOOKS_ALLOW_HTTP, and never an address that is loopback,
private, link-local, multicast, reserved or otherwise not global unless
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES. The check runs at send time on the addresses the host
resolves to, and the connection goes to the address that was checked (the request keeps the
host name for TLS and the Host header), so a name that resolves elsewhere a second later
(DNS rebinding) cannot slip through. It runs when a URL is entered as well, to say so early.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from apps.jobs.models import Job
from apps.jobs.runner import TransientError
from apps.notifications.models import DeliveryStatus, WebhookDelivery

SIGNATURE_HEADER = "X-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Answers worth another try later, besides 5xx.
RETRY_STATUS_CODES = {408, 429}
# How much of a receiver's answer is kept as the error (it is for operators to read).
ERROR_BODY_CHARS = 500


class WebhookSecret(str):
    """The signing secret for a scope; remembers the scope so a delivery can store that
    instead of the secret."""

    scope: str

    def __new__(cls, value: str, scope: str) -> WebhookSecret:
        secret = super().__new__(cls, value)
        secret.scope = scope
        return secret


def webhook_secret(scope: str) -> WebhookSecret:
    """The signing secret for `scope` ("subscription:12"): derived from SECRET_KEY, so it needs
    no storage, and changes only with SECRET_KEY or the scope."""
    digest = salted_hmac("apps.notifications.webhook_secret", scope, algorithm="sha256").hexdigest()
    return WebhookSecret(f"whsec_{digest}", scope)


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The X-Signature header for `body`: `t=<unix time>,v1=<hex HMAC-SHA256>`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_digest(body, secret, timestamp)}"


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    body: bytes | str, header: str, secret: str, tolerance: int = 300, now: float | None = None
) -> bool:
    """Whether `header` is a valid X-Signature of `body` with `secret`, made within
    `tolerance` seconds of now (an old signature may be a replay)."""
    if isinstance(body, str):
        body = body.encode()
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _sep, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(body, secret, timestamp)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


# --- Destinations -------------------------------------------------------------------------------


class WebhookRefused(Exception):
    """The destination is not allowed (scheme, address) or cannot be found."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str  # with the query string
    addresses: tuple[str, ...]  # checked, in the order to try them


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (tests replace it to play a rebinding DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def is_forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookRefused(_("This is not a valid URL.")) from error
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise WebhookRefused(_("Enter an https:// URL."))
    if scheme == "http" and not settings.WEBHOOKS_ALLOW_HTTP:
        raise WebhookRefused(_("Webhooks are sent over HTTPS only: enter an https:// URL."))
    if parts.username or parts.password:
        raise WebhookRefused(_("Put no user name or password in the URL."))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def check_destination(url: str) -> Destination:
    """Parse and resolve `url`, refusing what the settings do not allow."""
    scheme, host, port, path = _parse(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as error:
        raise WebhookRefused(_("The host %(host)s cannot be found.") % {"host": host}) from error
    if not addresses:
        raise WebhookRefused(_("The host %(host)s cannot be found.") % {"host": host})
    if not settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        forbidden = [address for address in addresses if is_forbidden_address(address)]
        if forbidden:
            raise WebhookRefused(
                _(
                    "%(host)s is a loopback, private or reserved address (%(address)s): "
                    "webhooks go to public addresses only."
                )
                % {"host": host, "address": forbidden[0]}
            )
    return Destination(scheme, host, port, path, tuple(addresses))


def validate_webhook_url(value: str) -> None:
    """A validator for a webhook URL field: a field error when it will be refused."""
    try:
        check_destination(value)
    except WebhookRefused as error:
        raise ValidationError(str(error), code="webhook_url") from error


# --- Sending -----------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand, not to what the host resolves to
    by the time it connects."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a checked address, verifying the certificate against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context):
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.WEBHOOKS_CA_FILE or None)


def post(
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    on_connection: Callable[[http.client.HTTPConnection], Any] | None = None,
) -> tuple[int, str]:
    """POST `body` to the first of the destination's addresses that accepts a connection;
    returns the status code and the start of the answer. Raises OSError (timeouts included)."""
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    last_error: OSError | None = None
    for address in destination.addresses:
        if destination.scheme == "https":
            connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
                destination.host, destination.port, address, timeout, _tls_context()
            )
        else:
            connection = _PinnedHTTPConnection(destination.host, destination.port, address, timeout)
        if on_connection:
            on_connection(connection)
        try:
            connection.connect()
        except OSError as error:
            last_error = error
            connection.close()
            continue
        try:
            connection.request("POST", destination.path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read(ERROR_BODY_CHARS).decode("utf-8", "replace")
            return response.status, text
        except http.client.HTTPException as error:
            raise ConnectionError(str(error) or error.__class__.__name__) from error
        finally:
            connection.close()
    assert last_error is not None
    raise last_error


class WebhookFailed(Exception):
    """The delivery gave up: the receiver refused it or the destination is not allowed."""


def send_webhook(url: str, *, key: str, payload: dict, secret: str) -> WebhookDelivery:
    """Record a delivery of `payload` to `url` (once per key) and enqueue its job."""
    scope = getattr(secret, "scope", None)
    if scope is None or not hmac.compare_digest(str(webhook_secret(scope)), str(secret)):
        raise ValueError("Pass the secret that webhook_secret(scope) returned.")
    existing = WebhookDelivery.objects.filter(key=key).first()
    if existing:
        return existing
    body = json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                key=key, url=url, body=body, secret_scope=scope
            )
    except IntegrityError:
        return WebhookDelivery.objects.get(key=key)
    return enqueue_delivery(delivery)


def enqueue_delivery(delivery: WebhookDelivery) -> WebhookDelivery:
    from apps.notifications.tasks import deliver_webhook

    job = deliver_webhook.enqueue(delivery.pk, key=f"webhook:{delivery.pk}")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(job=job)
    delivery.refresh_from_db()
    return delivery


def retry_delivery(delivery: WebhookDelivery) -> bool:
    """An operator's retry of a delivery that gave up, or whose job ended without finishing
    it (its last worker died on the last attempt): a fresh set of attempts. False for one
    delivered or still being tried."""
    job_over = Q(job__isnull=True) | ~Q(job__status__in=Job.UNFINISHED)
    stranded = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]) & job_over
    updated = WebhookDelivery.objects.filter(
        Q(status=DeliveryStatus.FAILED) | stranded, pk=delivery.pk
    ).update(status=DeliveryStatus.PENDING, error="")
    if updated:
        enqueue_delivery(delivery)
    return bool(updated)


def attempt_delivery(
    delivery: WebhookDelivery,
    *,
    final: bool,
    on_connection: Callable[[http.client.HTTPConnection], Any] | None = None,
) -> str:
    """One try at a delivery, recorded on it. Raises TransientError to be tried again (unless
    `final`, when it gives up) and WebhookFailed when it gives up."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now
    )
    try:
        destination = check_destination(delivery.url)
    except WebhookRefused as error:
        _record(delivery, DeliveryStatus.FAILED, error=str(error))
        raise WebhookFailed(str(error)) from error
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LLM-Artifacts-Webhooks/1",
        IDEMPOTENCY_HEADER: delivery.key,
        SIGNATURE_HEADER: sign(body, webhook_secret(delivery.secret_scope)),
    }
    try:
        status_code, text = post(destination, body, headers, on_connection)
    except OSError as error:
        message = str(error) or error.__class__.__name__
        if isinstance(error, TimeoutError | socket.timeout):
            message = _("No answer within %(seconds)s seconds.") % {
                "seconds": settings.WEBHOOKS_TIMEOUT_SECONDS
            }
        return _failed_try(delivery, final, None, message)
    if 200 <= status_code < 300:
        _record(delivery, DeliveryStatus.DELIVERED, status_code=status_code)
        return DeliveryStatus.DELIVERED
    message = _("The receiver answered %(status)s: %(text)s") % {
        "status": status_code,
        "text": text.strip()[:ERROR_BODY_CHARS],
    }
    if status_code >= 500 or status_code in RETRY_STATUS_CODES:
        return _failed_try(delivery, final, status_code, message)
    _record(delivery, DeliveryStatus.FAILED, status_code=status_code, error=message)
    raise WebhookFailed(message)


def give_up(delivery: WebhookDelivery, message: str) -> None:
    """Record that the delivery stops here (its job was cancelled or ran out of time)."""
    _record(delivery, DeliveryStatus.FAILED, error=message)


def _failed_try(delivery, final: bool, status_code: int | None, message: str) -> str:
    if final:
        _record(delivery, DeliveryStatus.FAILED, status_code=status_code, error=message)
        raise WebhookFailed(message)
    _record(delivery, DeliveryStatus.PENDING, status_code=status_code, error=message)
    raise TransientError(message)


def _record(delivery, status: str, *, status_code: int | None = None, error: str = "") -> None:
    fields: dict[str, Any] = {"status": status, "status_code": status_code, "error": error}
    if status == DeliveryStatus.DELIVERED:
        fields["delivered_at"] = timezone.now()
    # A delivery another worker already finished stays as it is.
    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.DELIVERED).update(
        **fields
    )
