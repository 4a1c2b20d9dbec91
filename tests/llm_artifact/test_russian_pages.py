"""The artifact pages in Russian (a user whose profile says ru): words, and numbers written the
Russian way in result tables (12 345,67), while exports and the API keep machine formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from apps.accounts.models import Profile
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.templatetags.artifacts import duration, number
from tests.conftest import PASSWORD
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_artifact.test_run_pages import HTMX, result_rows

pytestmark = pytest.mark.django_db

NBSP = "\xa0"  # Russian groups thousands with a no-break space
NUMBERS = (
    "SELECT 'север' AS region, 12345.67 AS revenue, 1234567 AS orders, 2024 AS year, "
    "0.0042 AS share UNION ALL SELECT 'юг', 812130.5, 12, 2023, 0.5"
)


@pytest.fixture
def russian_client(client, owner):
    Profile.objects.create(user=owner, language="ru")
    # Signing in copies the profile's language into the session (force_login would not).
    client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})
    return client


@pytest.fixture
def artifact(shop, owner) -> Artifact:
    return ArtifactFactory(owner=owner, title="Выручка по регионам", sql_query=NUMBERS)


@pytest.mark.parametrize(
    ("value", "column", "shown"),
    [
        (12345.67, "revenue", f"12{NBSP}345,67"),
        (1234567, "", f"1{NBSP}234{NBSP}567"),
        (-1234.5, "", f"-1{NBSP}234,50"),
        (0.0042, "", "0,0042"),
        (2024, "year", "2024"),
        (123456, "customer_id", "123456"),
    ],
)
def test_numbers_follow_the_russian_way(value, column, shown):
    with translation.override("ru"):
        assert number(value, column) == shown
    with translation.override("en"):
        assert "," in number(1234.5) and "." in number(1234.5)


def test_durations_in_russian():
    with translation.override("ru"):
        assert duration(4.25) == "4,2 мс"
        assert duration(1500) == "1,5 с"  # noqa: RUF001 (Russian for seconds)


def test_the_artifact_list_in_russian(russian_client, artifact):
    page = russian_client.get(reverse("llm_artifact:artifact_list"))
    content = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="ru">' in content
    assert "Ваши артефакты" in content
    assert "Новый артефакт" in content
    assert "1 артефакт" in content
    assert "Название" in content  # the column header
    assert "Выручка по регионам" in content
    assert "Your artifacts" not in content
    assert "Мои и доступные мне" in content  # the scope tabs
    assert "Mine and shared with me" not in content


def test_how_long_ago_in_russian():
    from django.utils import timezone, translation

    from apps.core.templatetags.ago import ago

    with translation.override("ru"):
        assert ago(timezone.now()) == "только что"
        assert ago(timezone.now() - dt.timedelta(hours=3)) == "3\xa0часа назад"  # noqa: RUF001
    assert ago(timezone.now() - dt.timedelta(hours=3)) == "3\xa0hours ago"


def test_the_artifact_page_in_russian(russian_client, artifact):
    page = russian_client.get(artifact.get_absolute_url())
    content = page.content.decode()
    assert page.status_code == 200
    assert "Выполните запрос, чтобы увидеть здесь результат." in content
    assert "История запусков" in content
    assert "Экспорт всех строк" in content
    assert "Run history" not in content


def test_a_result_table_writes_numbers_the_russian_way(russian_client, artifact):
    page = russian_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), headers=HTMX
    ).content.decode()
    assert result_rows(page) == [
        f"север|12{NBSP}345,67|1{NBSP}234{NBSP}567|2024|0,0042",
        f"юг|812{NBSP}130,50|12|2023|0,5",
    ]
    assert "2 строки" in page  # the row count, declined
    # URLs keep machine numbers.
    assert f"/artifacts/{artifact.pk}/export/csv/" in page


def test_the_same_result_in_english_for_an_english_user(owner_client, artifact):
    page = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), headers=HTMX
    ).content.decode()
    assert result_rows(page)[0] == "север|12,345.67|1,234,567|2024|0.0042"


def test_exports_keep_machine_formats_in_russian(russian_client, artifact):
    csv_response = russian_client.get(
        reverse("llm_artifact:artifact_export", args=[artifact.pk, "csv"])
    )
    rows = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert rows[0] == ["region", "revenue", "orders", "year", "share"]
    assert rows[1] == ["север", "12345.67", "1234567", "2024", "0.0042"]
    json_response = russian_client.get(
        reverse("llm_artifact:artifact_export", args=[artifact.pk, "json"])
    )
    data = json.loads(b"".join(json_response.streaming_content))
    assert data[0] == {
        "region": "север",
        "revenue": 12345.67,
        "orders": 1234567,
        "year": 2024,
        "share": 0.0042,
    }


def test_the_api_keeps_machine_numbers_in_russian(owner, artifact):
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(
        reverse("api:artifact-execute", args=[artifact.pk]),
        {},
        format="json",
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert "12345.67" in json.dumps(body)
    assert "12 345" not in response.content.decode()
    assert f"12{NBSP}345" not in response.content.decode()


def test_a_russian_users_wrong_filter_is_explained_in_russian(russian_client, artifact):
    page = russian_client.get(reverse("llm_artifact:artifact_list"), {"status": "nonsense"})
    assert page.status_code == 200
    assert "Пропущено поле «статус»" in page.content.decode()
