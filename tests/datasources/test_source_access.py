"""Data-source access in the schema browser, the schema API and the SQL check: a source
granted to a group is invisible to everyone else (404, left out of lists, refused like an
unknown name), and a source with exposed tables shows only those, without hidden columns.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable

pytestmark = pytest.mark.django_db

LIST_URL = reverse("datasources:data_source_list")
SHOP_URL = reverse("datasources:data_source_detail", args=["shop"])
API_LIST_URL = reverse("api:data-source-list")
API_SCHEMA_URL = reverse("api:data-source-schema", args=["shop"])
VALIDATE_URL = reverse("api:sql-validate")


@pytest.fixture
def granted_to_finance(shop_sqlite, tmp_path, settings, owner):
    """`shop` is granted to the group `finance` (owner is a member); `open` has no grants."""
    from tests.datasources import sample

    other = sample.build_sqlite(tmp_path / "open.sqlite3")
    settings.DATA_SOURCES = f"shop=sqlite:///{shop_sqlite} open=sqlite:///{other}"
    settings.DEFAULT_DATA_SOURCE = "open"
    finance = Group.objects.create(name="finance")
    owner.groups.add(finance)
    policy = DataSourcePolicy.objects.create(source="shop")
    DataSourceGrant.objects.create(policy=policy, group=finance)


@pytest.fixture
def exposed(shop_sqlite):
    """`shop` exposes orders and customers (without email); categories are hidden."""
    policy = DataSourcePolicy.objects.create(source="shop")
    ExposedTable.objects.create(policy=policy, name="orders")
    ExposedTable.objects.create(policy=policy, name="customers", hidden_columns=["email"])


# --- who may use a source -----------------------------------------------------------


def test_a_member_of_a_granted_group_uses_the_source(client, owner, granted_to_finance):
    client.force_login(owner)
    assert f'href="{SHOP_URL}"' in client.get(LIST_URL).content.decode()
    assert client.get(SHOP_URL).status_code == 200


def test_others_get_404_and_do_not_see_it_listed(client, other_user, granted_to_finance):
    client.force_login(other_user)
    listing = client.get(LIST_URL).content.decode()
    assert 'href="/data-sources/open/"' in listing
    assert SHOP_URL not in listing
    assert client.get(SHOP_URL).status_code == 404
    # Exactly like a source that does not exist.
    nowhere = reverse("datasources:data_source_detail", args=["nowhere"])
    assert client.get(nowhere).status_code == 404


def test_staff_use_every_source(client, staff, granted_to_finance):
    client.force_login(staff)
    assert SHOP_URL in client.get(LIST_URL).content.decode()
    assert client.get(SHOP_URL).status_code == 200


def test_the_api_lists_and_reads_only_usable_sources(owner_api, other_api, granted_to_finance):
    assert [s["name"] for s in owner_api.get(API_LIST_URL).json()] == ["open", "shop"]
    assert [s["name"] for s in other_api.get(API_LIST_URL).json()] == ["open"]
    assert owner_api.get(API_SCHEMA_URL).status_code == 200
    refused = other_api.get(API_SCHEMA_URL)
    unknown = other_api.get(reverse("api:data-source-schema", args=["nowhere"]))
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["detail"] == "Unknown data source 'shop'. Configured: open."
    assert unknown.json()["detail"] == "Unknown data source 'nowhere'. Configured: open."


def test_the_sql_check_refuses_a_source_like_an_unknown_one(
    owner_api, other_api, granted_to_finance
):
    body = {"sql": "SELECT 1", "data_source": "shop"}
    assert owner_api.post(VALIDATE_URL, body, format="json").json()["valid"] is True
    refused = other_api.post(VALIDATE_URL, body, format="json")
    unknown = other_api.post(VALIDATE_URL, {**body, "data_source": "nowhere"}, format="json")
    assert refused.status_code == unknown.status_code == 400
    assert refused.json() == {"data_source": ["Unknown data source 'shop'. Configured: open."]}
    assert unknown.json() == {"data_source": ["Unknown data source 'nowhere'. Configured: open."]}


# --- what a source exposes ----------------------------------------------------------


def test_the_schema_api_lists_only_exposed_tables_and_columns(owner_api, exposed):
    body = owner_api.get(API_SCHEMA_URL, {"samples": "true"}).json()
    assert [t["name"] for t in body["tables"]] == ["customers", "orders"]
    customers, orders = body["tables"]
    assert [c["name"] for c in customers["columns"]] == [
        "id",
        "name",
        "country",
        "signed_up_at",
        "is_vip",
    ]
    assert customers["sample"]["columns"] == [c["name"] for c in customers["columns"]]
    assert customers["sample"]["rows"] and customers["sample"]["error"] is None
    assert "@" not in str(customers["sample"]["rows"])  # no email reached the sample
    # The key into the hidden categories table would name it: left out.
    assert [key["referenced_table"] for key in orders["foreign_keys"]] == ["customers"]


def test_the_schema_page_shows_only_exposed_tables_and_columns(owner_client, exposed):
    content = owner_client.get(SHOP_URL).content.decode()
    names = re.findall(r'schema-table-name">(.*?)</span>', content)
    assert names == ["customers", "orders"]
    assert "categories" not in content and "paid_orders" not in content
    assert "email" not in content and "@example" not in content


def test_the_sql_check_applies_the_exposure(owner_api, exposed):
    refused = owner_api.post(
        VALIDATE_URL, {"sql": "SELECT * FROM categories", "data_source": "shop"}, format="json"
    ).json()
    assert refused["valid"] is False
    assert refused["error"] == "The table `categories` is not available in this data source."
    assert refused["parameters"] == []
    allowed = owner_api.post(
        VALIDATE_URL,
        {"sql": "SELECT name FROM customers WHERE id = :id", "data_source": "shop"},
        format="json",
    ).json()
    assert (allowed["valid"], allowed["error"], allowed["parameters"]) == (True, None, ["id"])
    assert allowed["diagnostics"] == []


def test_artifacts_cannot_be_put_on_a_source_the_user_may_not_use(
    owner_api, other_api, other_user, granted_to_finance
):
    from tests.llm_artifact.factories import ArtifactFactory

    body = {"title": "T", "sql_query": "SELECT 1", "data_source": "shop"}
    refused = other_api.post(reverse("api:artifact-list"), body, format="json")
    unknown = other_api.post(
        reverse("api:artifact-list"), {**body, "data_source": "nowhere"}, format="json"
    )
    assert refused.status_code == unknown.status_code == 400
    assert refused.json()["data_source"] == ["Unknown data source 'shop'. Configured: open."]
    assert unknown.json()["data_source"] == ["Unknown data source 'nowhere'. Configured: open."]
    assert owner_api.post(reverse("api:artifact-list"), body, format="json").status_code == 201

    mine = ArtifactFactory(owner=other_user, data_source="open")
    moved = other_api.patch(
        reverse("api:artifact-detail", args=[mine.pk]), {"data_source": "shop"}, format="json"
    )
    assert moved.status_code == 400
    assert moved.json()["data_source"] == ["Unknown data source 'shop'. Configured: open."]


@pytest.mark.postgres
def test_the_schema_api_shows_only_exposed_tables_on_postgres(owner_api, postgres_sources):
    policy = DataSourcePolicy.objects.create(source="reader")
    ExposedTable.objects.create(policy=policy, name="customers", hidden_columns=["email"])
    ExposedTable.objects.create(policy=policy, name="paid_orders")

    url = reverse("api:data-source-schema", args=["reader"])
    body = owner_api.get(url, {"samples": "true"}).json()

    assert [t["name"] for t in body["tables"]] == ["customers", "paid_orders"]
    customers = body["tables"][0]
    assert "email" not in [c["name"] for c in customers["columns"]]
    assert customers["sample"]["error"] is None and customers["sample"]["rows"]
    assert "@" not in str(customers["sample"]["rows"])
