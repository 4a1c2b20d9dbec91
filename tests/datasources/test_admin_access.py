"""The "Data source access" admin: grants and exposed tables per configured source, the
tables a choice of the source's real ones, hidden columns checked against the table."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:datasources_datasourcepolicy_changelist")
ADD = reverse("admin:datasources_datasourcepolicy_add")


def policy_data(source: str, *, groups=(), tables=()) -> dict:
    data = {
        "source": source,
        "grants-TOTAL_FORMS": len(groups),
        "grants-INITIAL_FORMS": 0,
        "exposed_tables-TOTAL_FORMS": len(tables),
        "exposed_tables-INITIAL_FORMS": 0,
    }
    for index, group in enumerate(groups):
        data[f"grants-{index}-group"] = group.pk
    for index, (name, hidden) in enumerate(tables):
        data[f"exposed_tables-{index}-name"] = name
        data[f"exposed_tables-{index}-hidden_columns"] = hidden
    return data


def test_the_list_names_configured_sources_without_a_policy(staff_client, shop_sqlite):
    content = staff_client.get(CHANGELIST).content.decode()
    assert f'<a href="{ADD}?source=shop">shop</a>' in content
    DataSourcePolicy.objects.create(source="shop")
    content = staff_client.get(CHANGELIST).content.decode()
    assert f"{ADD}?source=shop" not in content
    assert "every signed-in user" in content and "every table" in content


def test_the_add_link_names_the_source(staff_client, shop_sqlite):
    form = staff_client.get(ADD, {"source": "shop"}).context["adminform"].form
    assert form.initial["source"] == "shop"


def test_operators_grant_a_source_and_expose_tables(staff_client, shop_sqlite):
    finance = Group.objects.create(name="finance")
    response = staff_client.post(
        ADD,
        policy_data(
            "shop", groups=[finance], tables=[("orders", "[]"), ("customers", '["email"]')]
        ),
    )
    assert response.status_code == 302, response.context["errors"]
    policy = DataSourcePolicy.objects.get(source="shop")
    assert list(DataSourceGrant.objects.values_list("group__name", flat=True)) == ["finance"]
    assert dict(ExposedTable.objects.values_list("name", "hidden_columns")) == {
        "customers": ["email"],
        "orders": [],
    }
    listed = staff_client.get(CHANGELIST).content.decode()
    assert "finance" in listed and "2 tables" in listed
    # The change page offers the source's real tables to choose from.
    change_url = reverse("admin:datasources_datasourcepolicy_change", args=[policy.pk])
    html = staff_client.get(change_url).content.decode()
    assert '<option value="categories">categories (id, name, parent_id)</option>' in html


def test_a_hidden_column_the_table_does_not_have_is_refused(staff_client, shop_sqlite):
    response = staff_client.post(ADD, policy_data("shop", tables=[("customers", '["emial"]')]))
    assert response.status_code == 200
    assert (
        "customers has no column &#x27;emial&#x27;. Its columns: id, name, email, country, "
        "signed_up_at, is_vip." in response.content.decode()
    )
    assert not DataSourcePolicy.objects.exists()


def test_a_table_the_source_does_not_have_is_refused(staff_client, shop_sqlite):
    response = staff_client.post(ADD, policy_data("shop", tables=[("payouts", "[]")]))
    assert response.status_code == 200
    assert "The data source &#x27;shop&#x27; has no table &#x27;payouts&#x27;." in (
        response.content.decode()
    )


def test_a_source_that_is_not_configured_is_refused(staff_client, shop_sqlite):
    response = staff_client.post(ADD, policy_data("nowhere"))
    assert response.status_code == 200
    assert not DataSourcePolicy.objects.exists()


def test_the_agent_admin_limits_an_agent_to_groups(staff_client, shop_sqlite):
    from tests.llm_agent.factories import AgentFactory

    agent = AgentFactory(name="Finance agent")
    change = reverse("admin:llm_agent_agent_change", args=[agent.pk])
    html = staff_client.get(change).content.decode()
    assert 'name="groups"' in html and "selectfilter" in html  # filter_horizontal
