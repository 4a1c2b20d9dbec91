"""API tokens: POST /api/auth/token/, expiry, and the account page that lists and revokes them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = reverse("api:auth-token")
PAGE_URL = reverse("accounts:token_list")
ARTIFACTS_URL = reverse("api:artifact-list")


def obtain(client: APIClient, username: str = "owner", password: str = PASSWORD, **extra):
    return client.post(
        TOKEN_URL, {"username": username, "password": password, **extra}, format="json"
    )


def api_with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_token_endpoint_gives_a_working_token_that_expires_after_the_ttl(api_client, owner):
    response = obtain(api_client, name="laptop")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    expiry = timezone.datetime.fromisoformat(body["expiry"])
    expected = timezone.now() + timedelta(hours=30 * 24)
    assert abs((expiry - expected).total_seconds()) < 60
    assert api_with(body["token"]).get(ARTIFACTS_URL).status_code == 200
    assert ApiToken.objects.get(user=owner).name == "laptop"


def test_the_secret_is_not_stored_in_the_database(api_client, owner):
    secret = obtain(api_client).json()["token"]

    token = ApiToken.objects.get(user=owner)
    stored = [str(value) for value in ApiToken.objects.values_list().get()]
    assert not any(secret in value for value in stored)
    assert token.digest != secret


def test_each_sign_in_makes_another_token_and_both_work(api_client, owner):
    first = obtain(api_client).json()["token"]
    second = obtain(api_client).json()["token"]

    assert first != second
    assert api_with(first).get(ARTIFACTS_URL).status_code == 200
    assert api_with(second).get(ARTIFACTS_URL).status_code == 200


def test_an_expired_token_is_refused(api_client, owner):
    secret = obtain(api_client).json()["token"]
    ApiToken.objects.filter(user=owner).update(expiry=timezone.now() - timedelta(seconds=1))

    response = api_with(secret).get(ARTIFACTS_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_using_a_token_records_when(api_client, owner):
    secret = obtain(api_client).json()["token"]
    assert ApiToken.objects.get(user=owner).last_used is None

    api_with(secret).get(ARTIFACTS_URL)

    assert ApiToken.objects.get(user=owner).last_used is not None


def test_wrong_type_or_missing_fields_are_a_400(api_client, owner):
    assert obtain(api_client, password="wrong").status_code == 400
    assert api_client.post(TOKEN_URL, {"username": "owner"}, format="json").status_code == 400
    assert not ApiToken.objects.exists()


# --- the account page ---------------------------------------------------------------------------


def test_page_lists_only_my_tokens(owner_client, owner, other_user):
    ApiToken.objects.create(user=owner, name="my laptop")
    ApiToken.objects.create(user=other_user, name="their server")

    page = owner_client.get(PAGE_URL).content.decode()

    assert "my laptop" in page
    assert "their server" not in page


def test_creating_a_token_shows_the_secret_once(owner_client, owner):
    response = owner_client.post(PAGE_URL, {"name": "CI"})

    assert response.status_code == 200
    token = ApiToken.objects.get(user=owner)
    assert token.name == "CI"
    secret = response.context["secret"]
    assert secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert api_with(secret).get(ARTIFACTS_URL).status_code == 200
    assert secret not in owner_client.get(PAGE_URL).content.decode()


def test_a_too_long_name_is_an_inline_error(owner_client, owner):
    response = owner_client.post(PAGE_URL, {"name": "x" * 101})

    assert response.status_code == 422
    assert "invalid-feedback" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_working(owner_client, owner):
    token, secret = ApiToken.objects.create(user=owner, name="old")

    response = owner_client.post(reverse("accounts:token_revoke", args=[token.digest]))

    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert api_with(secret).get(ARTIFACTS_URL).status_code == 401


def test_other_user_gets_404_revoking_my_token(client, owner, other_user):
    token, secret = ApiToken.objects.create(user=owner)
    client.force_login(other_user)

    response = client.post(reverse("accounts:token_revoke", args=[token.digest]))

    assert response.status_code == 404
    assert api_with(secret).get(ARTIFACTS_URL).status_code == 200


def test_revoke_is_post_only(owner_client, owner):
    token, _ = ApiToken.objects.create(user=owner)

    response = owner_client.get(reverse("accounts:token_revoke", args=[token.digest]))

    assert response.status_code == 405
    assert ApiToken.objects.exists()


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(PAGE_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_expired_token_shows_as_expired(owner_client, owner):
    ApiToken.objects.create(user=owner, name="stale", expiry=timedelta(seconds=-1))

    page = owner_client.get(PAGE_URL).content.decode()

    assert "stale" in page
    assert "expired" in page


def test_without_a_ttl_tokens_never_expire(api_client, owner, settings):
    # API_TOKEN_TTL_HOURS=0 sets knox's TOKEN_TTL to None.
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": None}

    body = obtain(api_client).json()

    assert body["expiry"] is None
    assert ApiToken.objects.get(user=owner).expiry is None
    assert api_with(body["token"]).get(ARTIFACTS_URL).status_code == 200


def test_an_overlong_username_is_a_400_and_never_recorded(api_client, owner):
    from axes.models import AccessAttempt

    response = obtain(api_client, username="x" * 300)

    assert response.status_code == 400
    assert "username" in response.json()
    assert not AccessAttempt.objects.exists()


def test_page_says_how_long_a_new_token_lasts(owner_client, settings):
    assert "A new token works for 30 days." in owner_client.get(PAGE_URL).content.decode()

    settings.API_TOKEN_TTL_HOURS = 0
    assert "until it is revoked" in owner_client.get(PAGE_URL).content.decode()
