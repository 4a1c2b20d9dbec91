"""Data sources over the API: the list, each source's schema, and the SQL check that
never runs the SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from apps.datasources import schema
from apps.datasources.schema import clear_schema_cache
from tests.datasources import sample

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:data-source-list")
VALIDATE_URL = reverse("api:sql-validate")


def schema_url(name: str) -> str:
    return reverse("api:data-source-schema", args=[name])


@pytest.fixture
def two_sources(shop_sqlite: Path, settings) -> Path:
    """`shop` (the default, SQLite) and `warehouse`, a PostgreSQL source with a password.

    Nothing here connects to the warehouse: listing and checking SQL never do.
    """
    settings.DATA_SOURCES = (
        f"shop=sqlite:///{shop_sqlite}?max_rows=50 "
        "warehouse=postgresql://reader:s3cret@db.internal:6543/shop?timeout=5"
    )
    return shop_sqlite


# --- the list --------------------------------------------------------------------------------


def test_users_see_names_engines_and_limits_but_no_location(owner_api, two_sources):
    response = owner_api.get(LIST_URL)

    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "shop",
            "engine": "sqlite",
            "dialect": "sqlite",
            "is_default": True,
            "timeout_seconds": 10.0,
            "max_rows": 50,
            "export_max_rows": 1_000_000,
            "location": None,
        },
        {
            "name": "warehouse",
            "engine": "postgresql",
            "dialect": "postgres",
            "is_default": False,
            "timeout_seconds": 5.0,
            "max_rows": 1000,
            "export_max_rows": 1_000_000,
            "location": None,
        },
    ]


def test_other_users_see_the_same_list(other_api, owner_api, two_sources):
    # Data sources belong to no one: there is nothing to hide between users.
    assert other_api.get(LIST_URL).json() == owner_api.get(LIST_URL).json()


def test_staff_see_where_each_source_lives_with_the_password_masked(staff_api, two_sources):
    response = staff_api.get(LIST_URL)

    assert response.status_code == 200
    locations = {source["name"]: source["location"] for source in response.json()}
    assert locations == {
        "shop": str(two_sources),
        "warehouse": "postgresql://reader@db.internal:6543/shop",
    }
    assert "s3cret" not in response.content.decode()


def test_anonymous_is_refused_the_list(api_client, two_sources):
    response = api_client.get(LIST_URL)

    assert response.status_code == 401
    assert "warehouse" not in response.content.decode()


# --- the schema ----------------------------------------------------------------------------


def test_schema_lists_the_tables_with_columns_and_types(owner_api, shop_sqlite):
    response = owner_api.get(schema_url("shop"))

    assert response.status_code == 200
    body = response.json()
    assert body["data_source"] == "shop"
    assert [table["name"] for table in body["tables"]] == [*sample.TABLE_NAMES, "paid_orders"]
    orders = next(table for table in body["tables"] if table["name"] == "orders")
    assert orders["columns"] == [
        {"name": "id", "type": "INTEGER", "nullable": False},
        {"name": "customer_id", "type": "INTEGER", "nullable": False},
        {"name": "category_id", "type": "INTEGER", "nullable": False},
        {"name": "status", "type": "TEXT", "nullable": False},
        {"name": "ordered_at", "type": "TEXT", "nullable": False},
        {"name": "total", "type": "REAL", "nullable": False},
    ]
    customers = next(table for table in body["tables"] if table["name"] == "customers")
    assert {"name": "email", "type": "TEXT", "nullable": True} in customers["columns"]


@pytest.mark.parametrize("api", ["other_api", "staff_api"])
def test_every_signed_in_user_reads_the_schema(request, api, shop_sqlite):
    response = request.getfixturevalue(api).get(schema_url("shop"))

    assert response.status_code == 200
    assert len(response.json()["tables"]) == 4


def test_an_unknown_data_source_is_a_404(owner_api, shop_sqlite):
    response = owner_api.get(schema_url("nowhere"))

    assert response.status_code == 404
    assert "Unknown data source 'nowhere'" in response.json()["detail"]


def test_a_name_outside_the_naming_rule_is_a_404(owner_api, shop_sqlite):
    assert owner_api.get(f"{LIST_URL}..%2Fetc/schema/").status_code == 404


def test_an_unreachable_data_source_is_a_503(owner_api, tmp_path, settings):
    settings.DATA_SOURCES = f"gone=sqlite:///{tmp_path / 'missing.sqlite3'}"
    settings.DEFAULT_DATA_SOURCE = "gone"
    clear_schema_cache()

    response = owner_api.get(schema_url("gone"))

    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "'gone' is not reachable right now. Reference: " in detail
    assert "missing.sqlite3" not in detail  # where the file lives is for operators


def test_anonymous_is_refused_the_schema(api_client, shop_sqlite):
    response = api_client.get(schema_url("shop"))

    assert response.status_code == 401
    assert "orders" not in response.content.decode()


# --- checking SQL ---------------------------------------------------------------------------


def test_accepted_sql_lists_its_parameters_in_order(owner_api, two_sources):
    response = owner_api.post(
        VALIDATE_URL,
        {
            "sql": "SELECT * FROM orders WHERE total > :minimum AND status = :status "
            "AND total < :minimum * 10",
            "data_source": "shop",
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["valid"], body["error"], body["parameters"]) == (True, None, ["minimum", "status"])
    assert body["diagnostics"] == []


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM orders", "this statement is DELETE"),
        ("SELECT 1; DROP TABLE orders", "Only one statement can run at a time"),
        (
            "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
            "Not allowed anywhere in a query (CTEs included): DELETE.",
        ),
        ("SELECT load_extension('x')", "load_extension() is not allowed"),
        ("SELEC * FROM orders", "could not be parsed"),
        ("", "The SQL is empty."),
    ],
)
def test_rejected_sql_is_a_200_saying_why(owner_api, two_sources, sql, words):
    before = sample.sqlite_fingerprint(two_sources)

    response = owner_api.post(VALIDATE_URL, {"sql": sql, "data_source": "shop"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert words in body["error"]
    assert body["parameters"] == []
    assert sample.sqlite_fingerprint(two_sources) == before


def test_sql_is_checked_in_the_data_sources_dialect(owner_api, two_sources):
    # julianday() is SQLite's: on PostgreSQL's allow-list it is not.
    sql = {"sql": "SELECT julianday('now')"}

    on_postgres = owner_api.post(VALIDATE_URL, {**sql, "data_source": "warehouse"}, format="json")
    on_sqlite = owner_api.post(VALIDATE_URL, {**sql, "data_source": "shop"}, format="json")

    # Checked without connecting: the warehouse host does not exist.
    assert on_postgres.json()["valid"] is False
    assert "julianday() is not allowed" in on_postgres.json()["error"]
    assert on_sqlite.json()["valid"] is True


def test_sql_over_the_length_limit_is_rejected(owner_api, two_sources, settings):
    settings.SQL_MAX_LENGTH = 30

    response = owner_api.post(
        VALIDATE_URL, {"sql": "SELECT id, status, total FROM orders"}, format="json"
    )

    assert response.json()["valid"] is False
    assert "the limit is 30" in response.json()["error"]


def test_the_default_data_source_applies_when_none_is_given(owner_api, two_sources):
    response = owner_api.post(VALIDATE_URL, {"sql": "SELECT :a"}, format="json")

    body = response.json()
    assert (body["valid"], body["error"], body["parameters"]) == (True, None, ["a"])


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"sql": "SELECT 1", "data_source": "nowhere"}, "data_source", "Unknown data source"),
        ({"data_source": "shop"}, "sql", "required"),
        ({"sql": ["SELECT 1"]}, "sql", "Not a valid string"),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field(
    owner_api, two_sources, payload, field, words
):
    response = owner_api.post(VALIDATE_URL, payload, format="json")

    assert response.status_code == 400
    assert words in " ".join(response.json()[field])


@pytest.mark.parametrize("api", ["other_api", "staff_api"])
def test_every_signed_in_user_may_check_sql(request, api, two_sources):
    response = request.getfixturevalue(api).post(VALIDATE_URL, {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 200
    assert response.json()["valid"] is True


def test_anonymous_is_refused_the_check(api_client, two_sources):
    response = api_client.post(VALIDATE_URL, {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 401


@pytest.mark.postgres
def test_schema_of_a_postgresql_source_through_a_select_only_role(owner_api, postgres_sources):
    response = owner_api.get(schema_url("reader"))

    assert response.status_code == 200
    tables = {table["name"]: table["columns"] for table in response.json()["tables"]}
    assert set(tables) == {*sample.TABLE_NAMES, "paid_orders"}
    assert {"name": "total", "type": "numeric", "nullable": False} in tables["orders"]
    assert {
        "name": "ordered_at",
        "type": "timestamp without time zone",
        "nullable": False,
    } in tables["orders"]


# --- foreign keys, row counts and samples --------------------------------------------------


def test_schema_tells_foreign_keys_row_counts_and_views(owner_api, shop_sqlite):
    body = owner_api.get(schema_url("shop")).json()
    tables = {table["name"]: table for table in body["tables"]}
    assert tables["orders"]["foreign_keys"] == [
        {"columns": ["customer_id"], "referenced_table": "customers", "referenced_columns": ["id"]},
        {
            "columns": ["category_id"],
            "referenced_table": "categories",
            "referenced_columns": ["id"],
        },
    ]
    assert tables["orders"]["approx_rows"] == 10
    assert tables["orders"]["is_view"] is False
    assert tables["paid_orders"]["is_view"] is True
    assert tables["paid_orders"]["approx_rows"] is None
    # Light by default: no sample rows unless asked.
    assert tables["orders"]["sample"] is None


@pytest.mark.parametrize("api", ["owner_api", "other_api", "staff_api"])
@pytest.mark.parametrize("flag", ["1", "true"])
def test_samples_on_request(request, api, flag, shop_sqlite):
    response = request.getfixturevalue(api).get(schema_url("shop"), {"samples": flag})

    assert response.status_code == 200
    tables = {table["name"]: table for table in response.json()["tables"]}
    customers = tables["customers"]["sample"]
    assert customers["columns"] == ["id", "name", "email", "country", "signed_up_at", "is_vip"]
    assert customers["rows"][0] == [1, "Ada Lovelace", "ada@example.com", "GB", "2023-01-05", 1]
    assert customers["rows"][4][2] is None
    assert customers["error"] is None
    assert len(tables["orders"]["sample"]["rows"]) == 5


def test_samples_stop_after_the_first_tables(owner_api, shop_sqlite, monkeypatch):
    monkeypatch.setattr(schema, "SAMPLE_TABLES_MAX", 1)
    tables = owner_api.get(schema_url("shop"), {"samples": "true"}).json()["tables"]
    assert tables[0]["sample"]["rows"]
    assert [table["sample"] for table in tables[1:]] == [None, None, None]


def test_a_malformed_samples_flag_is_a_400(owner_api, shop_sqlite):
    response = owner_api.get(schema_url("shop"), {"samples": "maybe"})

    assert response.status_code == 400
    assert "samples" in response.json()


@pytest.mark.postgres
def test_postgres_schema_tells_keys_counts_and_samples(owner_api, postgres_sources):
    response = owner_api.get(schema_url("reader"), {"samples": "true"})

    assert response.status_code == 200
    tables = {table["name"]: table for table in response.json()["tables"]}
    assert {
        "columns": ["customer_id"],
        "referenced_table": "customers",
        "referenced_columns": ["id"],
    } in tables["orders"]["foreign_keys"]
    assert tables["customers"]["approx_rows"] == 5
    assert tables["orders"]["sample"]["rows"][0][:2] == [1, 1]
    assert tables["orders"]["sample"]["rows"][0][-1] == 120.5
