"""The data source pages and the SQL guard's messages in Russian, chosen by Accept-Language."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from apps.datasources.schema import clear_schema_cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_afterwards():
    """A request in Russian leaves Russian active on the thread: later tests expect English."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


RUSSIAN = {"HTTP_ACCEPT_LANGUAGE": "ru"}


@pytest.fixture
def shop(shop_sqlite, settings):
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite}"
    clear_schema_cache()
    return shop_sqlite


def test_the_data_source_list_in_russian(owner_client, shop):
    response = owner_client.get(reverse("datasources:data_source_list"), **RUSSIAN)

    assert response.status_code == 200
    content = response.content.decode()
    assert '<html lang="ru">' in content
    assert "Источники данных" in content
    assert "Лимит времени" in content
    assert "по умолчанию" in content
    assert "Time limit" not in content


def test_the_data_source_page_in_russian(owner_client, shop):
    url = reverse("datasources:data_source_detail", args=["shop"])
    response = owner_client.get(url, **RUSSIAN)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Фильтр таблиц и столбцов" in content
    assert "Столбец" in content
    assert "Filter tables and columns" not in content


def test_a_filter_matching_nothing_says_so_in_russian(owner_client, shop):
    url = reverse("datasources:data_source_detail", args=["shop"])
    response = owner_client.get(url, {"q": "zzz"}, **RUSSIAN)

    assert "Ни одна таблица или столбец не подходит под «zzz»." in response.content.decode()


def test_the_guard_refuses_a_write_in_russian_through_the_api(owner_api, shop):
    body = {"sql": "DELETE FROM orders", "data_source": "shop"}
    response = owner_api.post(reverse("api:sql-validate"), body, format="json", **RUSSIAN)

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "Разрешены только запросы на чтение" in str(response.json()["diagnostics"])


def test_a_refusal_cached_in_english_is_read_in_russian(owner_api, shop):
    body = {"sql": "SELECT 1; SELECT 2", "data_source": "shop"}
    english = owner_api.post(reverse("api:sql-validate"), body, format="json")
    russian = owner_api.post(reverse("api:sql-validate"), body, format="json", **RUSSIAN)

    assert "Only one statement can run at a time; found 2." in str(english.json())
    assert "можно выполнить только один оператор; найдено: 2." in str(russian.json())


def test_did_you_mean_in_russian(owner_api, shop):
    body = {"sql": "SELECT totl FROM orders", "data_source": "shop"}
    response = owner_api.post(reverse("api:sql-validate"), body, format="json", **RUSSIAN)

    (diagnostic,) = response.json()["diagnostics"]
    assert (
        diagnostic["message"] == "нет столбца `totl` в `orders`; возможно, имелось в виду `total`?"
    )
    assert diagnostic["suggestion"] == "total"


def test_a_parse_error_in_russian_keeps_its_place(owner_api, shop):
    body = {"sql": "SELECT id FROM WHERE", "data_source": "shop"}
    response = owner_api.post(reverse("api:sql-validate"), body, format="json", **RUSSIAN)

    (diagnostic,) = response.json()["diagnostics"]
    assert diagnostic["code"] == "parse_error"
    assert diagnostic["line"] == 1
    assert "удалось разобрать SQL" in diagnostic["message"]
