"""Wrong passwords: django-axes locks a username+address out; the token endpoint is throttled."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = reverse("api:auth-token")
LOGIN_URL = reverse("login")


def obtain(client, username="owner", password=PASSWORD, address="10.0.0.1", **headers):
    credentials = {"username": username, "password": password}
    return client.post(TOKEN_URL, credentials, REMOTE_ADDR=address, **headers)


def test_token_endpoint_locks_out_a_username_after_too_many_wrong_passwords(api_client, owner):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert obtain(api_client, password="wrong").status_code == 400
    locking = obtain(api_client, password="wrong")
    assert locking.status_code == 429

    # Even the right password is refused now, with a JSON reason.
    response = obtain(api_client)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.json()["detail"]
    assert "token" not in response.json()

    # Another address, or another username, is not affected.
    assert obtain(api_client, address="10.0.0.2").status_code == 200


def test_a_success_before_the_limit_resets_the_count(api_client, owner):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        obtain(api_client, password="wrong")
    assert obtain(api_client).status_code == 200
    assert obtain(api_client, password="wrong").status_code == 400


def test_token_endpoint_is_rate_limited_per_address(owner):
    client = APIClient()
    # Different usernames, so that the lockout does not answer first, and a made-up
    # X-Forwarded-For each time, which must not count as another address.
    statuses = [
        obtain(
            client, username=f"nobody{n}", password="x", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"
        ).status_code
        for n in range(11)
    ]

    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
    assert obtain(client, address="10.0.0.9").status_code == 200


def test_sign_in_page_locks_out_after_too_many_wrong_passwords(client, owner):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(LOGIN_URL, {"username": "owner", "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    assert client.post(LOGIN_URL, {"username": "owner", "password": "wrong"}).status_code == 429

    response = client.post(LOGIN_URL, {"username": "owner", "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_page_still_signs_in_with_the_right_password(client, owner):
    client.post(LOGIN_URL, {"username": "owner", "password": "wrong"})

    response = client.post(LOGIN_URL, {"username": "owner", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_authenticate_without_a_request_still_works(owner):
    # A shell or the test client's login() has no address to lock out; it is not refused.
    from django.contrib.auth import authenticate

    assert authenticate(username="owner", password=PASSWORD) == owner
    assert authenticate(username="owner", password="wrong") is None


def test_a_made_up_forwarded_address_escapes_neither_limit(owner):
    # No proxy is configured: X-Forwarded-For is the client's own words and is ignored.
    client = APIClient()

    def attempt(n, password):
        return client.post(
            TOKEN_URL,
            {"username": "owner", "password": password},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )

    statuses = [attempt(n, "wrong").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429
    assert attempt(99, PASSWORD).status_code == 429


def test_behind_a_proxy_the_forwarded_address_is_the_client(owner, settings):
    settings.PROXY_COUNT = 1
    client = APIClient()

    def attempt(client_ip, password="wrong"):
        # The proxy (10.0.0.1) appends the address it saw to whatever the client sent.
        return obtain(client, password=password, HTTP_X_FORWARDED_FOR=f"203.0.113.7, {client_ip}")

    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt("198.51.100.1")
    assert attempt("198.51.100.1", PASSWORD).status_code == 429
    # Another client behind the same proxy is not locked out.
    assert attempt("198.51.100.2", PASSWORD).status_code == 200
