"""Webhooks over HTTPS: the connection goes to the address checked at send time while TLS
verifies the certificate against the URL's host name (SNI), as a browser would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from apps.notifications import webhooks
from apps.notifications.models import DeliveryStatus
from apps.notifications.webhooks import send_webhook, verify_signature, webhook_secret
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db


def certificate(folder, name: str) -> tuple[str, str]:
    """A self-signed certificate for `name` (openssl), as (certificate file, key file)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def hooks_test(settings, monkeypatch, tmp_path):
    """`hooks.test` resolves to loopback (allowed here) and its certificate is trusted."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_TIMEOUT_SECONDS = 5
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: ["127.0.0.1"])
    cert, key = certificate(tmp_path, "hooks.test")
    settings.WEBHOOKS_CA_FILE = cert
    return cert, key


def test_delivers_over_https_to_the_checked_address(hooks_test):
    secret = webhook_secret("subscription:7")
    with Receiver(tls=hooks_test) as receiver:
        url = f"https://hooks.test:{receiver.port}/in"
        delivery = send_webhook(url, key="tls:1", payload={"rows": 3}, secret=secret)
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.test:{receiver.port}"
    assert verify_signature(request.body, request.headers["x-signature"], str(secret))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_a_certificate_for_another_name_is_not_trusted(hooks_test, tmp_path, settings):
    other = certificate(tmp_path, "other.test")
    # Both certificates are trusted: only the name can be wrong.
    bundle = tmp_path / "both.pem"
    bundle.write_text(Path(hooks_test[0]).read_text() + Path(other[0]).read_text())
    settings.WEBHOOKS_CA_FILE = str(bundle)
    with Receiver(tls=other) as receiver:
        url = f"https://hooks.test:{receiver.port}/in"
        delivery = send_webhook(url, key="tls:2", payload={}, secret=webhook_secret("s"))
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "hostname mismatch" in delivery.error.lower()
