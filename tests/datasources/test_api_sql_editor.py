"""The editor's endpoints that never run SQL: column-aware validation and formatting."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.datasources import sample

pytestmark = pytest.mark.django_db

VALIDATE_URL = reverse("api:sql-validate")
FORMAT_URL = reverse("api:sql-format")


def test_typo_in_a_column_is_reported_with_suggestion_and_place(owner_api, shop_sqlite):
    sql = "SELECT id,\n       totl\nFROM orders"
    response = owner_api.post(VALIDATE_URL, {"sql": sql, "data_source": "shop"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True  # the guard lets it run; the database would refuse it
    (diagnostic,) = body["diagnostics"]
    assert diagnostic["message"] == "no column `totl` in `orders`; did you mean `total`?"
    assert diagnostic["suggestion"] == "total"
    assert (diagnostic["line"], diagnostic["column"]) == (2, 8)
    assert sql[diagnostic["start"] : diagnostic["end"]] == "totl"


def test_parse_error_is_placed(owner_api, shop_sqlite):
    response = owner_api.post(VALIDATE_URL, {"sql": "SELECT id FROM WHERE"}, format="json")

    body = response.json()
    assert body["valid"] is False
    assert body["diagnostics"][0]["code"] == "parse_error"
    assert body["diagnostics"][0]["line"] == 1


def test_declarations_give_undeclared_and_unused_parameters(owner_api, shop_sqlite):
    response = owner_api.post(
        VALIDATE_URL,
        {
            "sql": "SELECT id FROM orders WHERE status = :status AND total > :minimum",
            "declarations": [{"name": "status", "type": "string"}, {"name": "since"}],
        },
        format="json",
    )

    body = response.json()
    assert body["parameters"] == ["status", "minimum"]
    assert body["undeclared"] == ["minimum"]
    assert body["unused"] == ["since"]
    assert [u["name"] for u in body["parameter_uses"]] == ["status", "minimum"]


def test_declarations_must_be_a_list_of_objects(owner_api, shop_sqlite):
    response = owner_api.post(
        VALIDATE_URL, {"sql": "SELECT 1", "declarations": "since"}, format="json"
    )

    assert response.status_code == 400
    assert "declarations" in response.json()


def test_format_pretty_prints_and_keeps_parameters(owner_api, shop_sqlite):
    before = sample.sqlite_fingerprint(shop_sqlite)
    response = owner_api.post(
        FORMAT_URL, {"sql": "select id from orders where status=:status"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"sql": "SELECT\n  id\nFROM orders\nWHERE\n  status = :status"}
    assert sample.sqlite_fingerprint(shop_sqlite) == before


def test_format_of_unparsable_sql_is_a_400_on_sql(owner_api, shop_sqlite):
    response = owner_api.post(FORMAT_URL, {"sql": "SELECT FROM WHERE ("}, format="json")

    assert response.status_code == 400
    assert "could not be parsed" in response.json()["sql"][0]


@pytest.mark.parametrize("url", [VALIDATE_URL, FORMAT_URL])
@pytest.mark.parametrize("persona", ["owner_api", "other_api", "staff_api"])
def test_every_signed_in_user_may_use_them(request, persona, url, shop_sqlite):
    response = request.getfixturevalue(persona).post(url, {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize("url", [VALIDATE_URL, FORMAT_URL])
def test_anonymous_is_refused(api_client, url, shop_sqlite):
    assert api_client.post(url, {"sql": "SELECT 1"}, format="json").status_code == 401


@pytest.mark.postgres
def test_postgresql_validate_format_and_preview(owner_api, postgres_sources):
    typo = owner_api.post(
        VALIDATE_URL, {"sql": "SELECT totl FROM orders", "data_source": "reader"}, format="json"
    )
    assert typo.json()["diagnostics"][0]["suggestion"] == "total"

    formatted = owner_api.post(
        FORMAT_URL,
        {"sql": "select id from orders where total::int > :minimum", "data_source": "reader"},
        format="json",
    )
    assert formatted.json()["sql"] == (
        "SELECT\n  id\nFROM orders\nWHERE\n  CAST(total AS INT) > :minimum"
    )

    preview = owner_api.post(
        reverse("api:sql-preview-run"),
        {
            "sql": "SELECT COUNT(*) AS n FROM orders WHERE total > :minimum",
            "data_source": "reader",
            "declarations": [{"name": "minimum", "type": "number", "default": 100}],
        },
        format="json",
    )
    assert preview.status_code == 200
    assert preview.json()["rows"] == [[5]]
    assert preview.json()["run_id"] is None
