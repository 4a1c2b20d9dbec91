"""The language: the user's choice, then the browser's; the switcher keeps the user in place."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import Profile
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

RUSSIAN = "Перейти к содержимому"  # "Skip to content", on every page
ENGLISH = "Skip to content"


def test_a_visitor_gets_the_browsers_language(client):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ru,en;q=0.5")
    assert page.status_code == 200
    assert '<html lang="ru">' in page.content.decode()
    assert RUSSIAN in page.content.decode()


def test_english_when_the_browser_asks_for_a_language_we_do_not_have(client):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="de")
    assert '<html lang="en">' in page.content.decode()
    assert ENGLISH in page.content.decode()


def test_the_switcher_keeps_the_user_on_the_same_page_and_remembers(client, owner):
    client.force_login(owner)
    artifacts = reverse("llm_artifact:artifact_list") + "?q=orders"
    response = client.post(reverse("accounts:set_language"), {"language": "ru", "next": artifacts})
    assert response.status_code == 302
    assert response["Location"] == artifacts
    assert Profile.language_of(owner) == "ru"
    page = client.get(artifacts, HTTP_ACCEPT_LANGUAGE="en")
    assert RUSSIAN in page.content.decode()
    assert "Артефакты" in page.content.decode()


def test_the_users_choice_comes_back_when_they_sign_in_again(client, owner):
    Profile.objects.create(user=owner, language="ru")
    client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})
    page = client.get(reverse("llm_chat:chat_list"), HTTP_ACCEPT_LANGUAGE="en")
    assert RUSSIAN in page.content.decode()


def test_back_to_the_browsers_language(client, owner):
    Profile.objects.create(user=owner, language="ru")
    client.force_login(owner)
    client.post(reverse("accounts:set_language"), {"language": "", "next": "/"})
    assert Profile.language_of(owner) == ""
    page = client.get(reverse("llm_chat:chat_list"), HTTP_ACCEPT_LANGUAGE="en")
    assert ENGLISH in page.content.decode()


def test_a_visitor_may_switch_too(client):
    response = client.post(
        reverse("accounts:set_language"), {"language": "ru", "next": reverse("login")}
    )
    assert response.status_code == 302
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert RUSSIAN in page.content.decode()


def test_an_unknown_language_is_refused(client, owner):
    client.force_login(owner)
    response = client.post(reverse("accounts:set_language"), {"language": "xx", "next": "/"})
    assert response.status_code == 400
    assert Profile.language_of(owner) == ""


def test_the_switcher_never_sends_the_user_to_another_site(client):
    response = client.post(
        reverse("accounts:set_language"), {"language": "ru", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_the_profile_page_saves_the_language(client, owner):
    client.force_login(owner)
    assert client.get(reverse("accounts:profile")).status_code == 200
    response = client.post(reverse("accounts:profile"), {"language": "ru"})
    assert response.status_code == 302
    assert Profile.language_of(owner) == "ru"
    assert "Настройки сохранены." in client.get(reverse("accounts:profile")).content.decode()


def test_the_profile_page_says_what_is_wrong_with_bad_input(client, owner):
    client.force_login(owner)
    response = client.post(reverse("accounts:profile"), {"language": "klingon"})
    assert response.status_code == 422
    assert "klingon" in response.content.decode()
    assert not Profile.objects.filter(user=owner).exists()


def test_the_profile_page_needs_a_sign_in(client):
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_admin_follows_the_language(client, staff):
    Profile.objects.create(user=staff, language="ru")
    client.post(reverse("login"), {"username": staff.username, "password": PASSWORD})
    page = client.get(reverse("admin:index"))
    assert "Администрирование" in page.content.decode()


def test_the_api_answers_errors_in_the_browsers_language(client):
    response = client.get("/api/artifacts/", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code in (401, 403)
    assert "Учетные данные не были предоставлены." in response.json()["detail"]


def test_scripts_get_their_translations_in_the_language_of_the_address(client):
    response = client.get(reverse("javascript-catalog", args=["ru"]))
    assert response.status_code == 200
    assert "gettext" in response.content.decode()
    assert "max-age=3600" in response["Cache-Control"]
    assert client.get(reverse("javascript-catalog", args=["xx"])).status_code == 404
