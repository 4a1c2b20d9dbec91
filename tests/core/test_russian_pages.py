"""The pages every visitor may meet, in Russian: sign-in, a page that does not exist."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """A request in Russian leaves Russian active on the thread: later tests expect English."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


RUSSIAN = {"HTTP_ACCEPT_LANGUAGE": "ru"}


def test_the_sign_in_page_in_russian(client):
    response = client.get(reverse("login"), **RUSSIAN)

    assert response.status_code == 200
    content = response.content.decode()
    assert '<html lang="ru">' in content
    assert "<title>Войти · LLM Artifacts</title>" in content
    assert "Имя пользователя" in content
    assert "Пароль" in content
    assert "Username" not in content


def test_the_sign_in_page_stays_in_english_without_a_choice(client):
    content = client.get(reverse("login")).content.decode()

    assert "Username" in content
    assert "Имя пользователя" not in content


def test_a_wrong_password_is_told_in_russian(client, owner):
    response = client.post(reverse("login"), {"username": "owner", "password": "wrong"}, **RUSSIAN)

    assert response.status_code == 200
    assert "Пожалуйста, введите правильные имя пользователя и пароль" in response.content.decode()


def test_a_missing_page_answers_404_in_russian(owner_client):
    response = owner_client.get("/no-such-page/", **RUSSIAN)

    assert response.status_code == 404
    content = response.content.decode()
    assert "Страница не найдена" in content
    assert "Вернуться к чатам" in content
