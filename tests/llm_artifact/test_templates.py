"""Templates: slot declarations, rendering into the SQL tree, "Use this template" (page and
API) for each persona, and the shipped templates on the demo marketplace (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from apps.accounts.sharing import Visibility
from apps.datasources import demo
from apps.datasources.schema import clear_schema_cache
from apps.datasources.sources import get_data_source
from apps.llm_artifact.management.commands.install_templates import (
    SHIPPED_TEMPLATES,
    install_templates,
)
from apps.llm_artifact.models import Artifact, ArtifactRun, ArtifactShare
from apps.llm_artifact.services import preview_sql
from apps.llm_artifact.templating import fill_slots, render, validate_slots
from apps.llm_chat.demo import TEMPLATE_EXAMPLES
from tests.conftest import UserFactory
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

TOP_SQL = """SELECT __dimension__ AS dimension, COALESCE(SUM(__measure__), 0) AS total
FROM __table__ GROUP BY __dimension__ ORDER BY total DESC LIMIT :n"""
TOP_SLOTS = [
    {"name": "table", "kind": "table", "label": "Table"},
    {"name": "dimension", "kind": "dimension_column", "table": "table"},
    {"name": "measure", "kind": "measure_column", "table": "table"},
]
TOP_PARAMS = [{"name": "n", "type": "integer", "label": "How many", "default": 3}]
ORDERS_BY_STATUS = {"table": "orders", "dimension": "status", "measure": "total"}


@pytest.fixture
def template(shop, owner):
    return ArtifactFactory(
        owner=owner,
        title="Top by a dimension",
        sql_query=TOP_SQL,
        query_params=TOP_PARAMS,
        template_slots=TOP_SLOTS,
    )


# --- declarations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slots", "message"),
    [
        ({"name": "table"}, "must be a list"),
        ([{"name": "Table", "kind": "table"}], "Slot 1: the name"),
        ([{"name": "t", "kind": "view"}], 'Slot "t": the kind must be one of'),
        ([{"name": "t", "kind": "table"}, {"name": "t", "kind": "table"}], 'Slot "t" is declared'),
        ([{"name": "d", "kind": "date_column"}], 'Slot "d" is a column: name the table slot'),
        ([{"name": "d", "kind": "date_column", "table": "x"}], 'Slot "d": "x" is not a table'),
        ([{"name": "t", "kind": "table", "table": "t"}], 'Slot "t" is a table'),
        ([{"name": "t", "kind": "table", "colour": "red"}], 'Slot "t": unknown keys colour'),
    ],
)
def test_bad_slot_declarations_are_refused_naming_the_slot(slots, message):
    with pytest.raises(ValidationError) as exc:
        validate_slots(slots)
    assert any(message in text for text in exc.value.messages)


def test_saving_a_template_checks_its_slots_against_its_sql(shop, owner):
    artifact = ArtifactFactory.build(
        owner=owner,
        sql_query="SELECT __missing__ FROM __table__",
        template_slots=[{"name": "table", "kind": "table"}, {"name": "unused", "kind": "table"}],
    )
    with pytest.raises(ValidationError) as exc:
        artifact.full_clean()
    messages = exc.value.message_dict["sql_query"]
    assert any('no slot "missing" is declared' in m for m in messages)
    assert any('Slot "unused" is declared but the SQL never uses __unused__' in m for m in messages)
    broken = ArtifactFactory.build(owner=owner, template_slots=[{"name": 1}])
    with pytest.raises(ValidationError) as exc:
        broken.full_clean()
    assert "template_slots" in exc.value.message_dict


def test_a_valid_template_saves(template):
    template.full_clean()
    assert template.is_template


# --- rendering --------------------------------------------------------------------------------


def test_slots_render_as_quoted_identifiers_and_the_result_runs(shop):
    source = get_data_source("marketplace")
    filled = fill_slots(TOP_SLOTS, "marketplace", ORDERS_BY_STATUS)
    sql = render(TOP_SQL, filled, source)
    assert '"orders"' in sql and '"status"' in sql and '"total"' in sql and ":n" in sql
    result = preview_sql("marketplace", sql, declarations=TOP_PARAMS, raw_params={"n": "2"})
    assert result.row_count == 2


@pytest.mark.parametrize(
    "value",
    [
        'orders"; DROP TABLE orders; --',
        "orders; DELETE FROM orders",
        "orders /* comment */",
        "orders' OR '1'='1",
        "(SELECT 1)",
    ],
)
def test_injection_in_slot_values_is_refused(shop, value):
    with pytest.raises(ValidationError) as exc:
        fill_slots(TOP_SLOTS, "marketplace", {**ORDERS_BY_STATUS, "table": value})
    assert "is not a table of this data source" in exc.value.message_dict["table"][0]
    with pytest.raises(ValidationError) as exc:
        fill_slots(TOP_SLOTS, "marketplace", {**ORDERS_BY_STATUS, "measure": value})
    assert "measure" in exc.value.message_dict["measure"][0]


def test_a_schema_name_with_quotes_and_semicolons_is_quoted_harmlessly(tmp_path, settings):
    path = tmp_path / "odd.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE "x"";DROP TABLE t;--" ("a""b" INTEGER, "c" TEXT)')
        conn.execute("INSERT INTO \"x\"\";DROP TABLE t;--\" VALUES (5, 'k'), (7, 'k')")
        conn.execute("CREATE TABLE t (id INTEGER)")
    settings.DATA_SOURCES = f"odd=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = "odd"
    clear_schema_cache()
    filled = fill_slots(
        TOP_SLOTS, "odd", {"table": 'x";DROP TABLE t;--', "dimension": "c", "measure": 'a"b'}
    )
    sql = render(TOP_SQL, filled, get_data_source("odd"))
    result = preview_sql("odd", sql, declarations=TOP_PARAMS, raw_params={})
    assert result.rows == [("k", 12)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)


def test_column_slots_offer_only_fitting_exposed_columns(shop):
    from apps.datasources.models import DataSourcePolicy, ExposedTable
    from apps.llm_artifact.templating import slot_fields

    policy = DataSourcePolicy.objects.create(source="marketplace")
    ExposedTable.objects.create(policy=policy, name="orders", hidden_columns=["total"])
    fields = {f.name: f for f in slot_fields(TOP_SLOTS, "marketplace", {"table": "orders"})}
    assert fields["table"].choices == ["orders"]
    assert "total" not in fields["measure"].choices
    assert "status" not in fields["measure"].choices  # text is no measure
    assert "status" in fields["dimension"].choices
    with pytest.raises(ValidationError):
        fill_slots(TOP_SLOTS, "marketplace", {**ORDERS_BY_STATUS, "table": "customers"})


# --- the page ---------------------------------------------------------------------------------


def use_url(artifact: Artifact) -> str:
    return reverse("llm_artifact:template_use", args=[artifact.pk])


def page_data(**changes) -> dict:
    data = {"data_source": "marketplace", "param_n": "2", "title": "Mine"}
    data |= {f"slot_{name}": value for name, value in ORDERS_BY_STATUS.items()}
    return data | changes


def test_owner_previews_without_recording_then_saves_a_private_copy(client, owner, template):
    client.force_login(owner)
    page = client.get(use_url(template))
    assert page.status_code == 200 and b'name="slot_table"' in page.content
    preview = client.post(use_url(template), page_data(action="preview"))
    assert preview.status_code == 200
    assert b"Preview: 2 rows" in preview.content
    assert not ArtifactRun.objects.exists()
    assert Artifact.objects.count() == 1
    saved = client.post(use_url(template), page_data(action="save"))
    made = Artifact.objects.exclude(pk=template.pk).get()
    assert saved.status_code == 302 and saved["Location"] == made.get_absolute_url()
    assert made.owner == owner and made.template == template and not made.is_template
    assert made.visibility == Visibility.PRIVATE and made.title == "Mine"
    assert made.query_params[0]["default"] == 2
    assert '"orders"' in made.sql_query


def test_columns_are_offered_once_the_table_is_chosen_without_javascript(client, owner, template):
    client.force_login(owner)
    before = client.get(use_url(template), {"data_source": "marketplace"})
    assert b"Choose its table first" in before.content
    after = client.get(use_url(template), {"data_source": "marketplace", "slot_table": "orders"})
    assert b'<option value="ordered_at"' in after.content
    partial = client.get(
        use_url(template), {"slot_table": "orders"}, headers={"HX-Request": "true"}
    )
    assert b'id="template-slots"' in partial.content and b"<html" not in partial.content


def test_bad_slot_values_are_shown_inline_and_nothing_is_saved(client, owner, template):
    client.force_login(owner)
    response = client.post(
        use_url(template), page_data(action="save", slot_measure='total"; DROP TABLE orders')
    )
    assert response.status_code == 422
    assert b"is not a measure (numeric column) of orders" in response.content
    assert Artifact.objects.count() == 1


def test_group_viewer_and_everyone_may_use_a_shared_template(client, owner, template):
    viewer = UserFactory(username="viewer")
    group = Group.objects.create(name="analysts")
    viewer.groups.add(group)
    template.visibility = Visibility.GROUPS
    template.save()
    ArtifactShare.objects.create(artifact=template, group=group, can_edit=False)
    client.force_login(viewer)
    assert client.post(use_url(template), page_data(action="save")).status_code == 302
    assert Artifact.objects.get(owner=viewer).template == template


def test_other_user_gets_404_and_anonymous_is_sent_to_sign_in(client, other_user, template):
    assert client.get(use_url(template)).status_code == 302
    client.force_login(other_user)
    assert client.get(use_url(template)).status_code == 404
    assert client.post(use_url(template), page_data(action="save")).status_code == 404


def test_staff_may_use_any_template(client, staff, template):
    client.force_login(staff)
    assert client.post(use_url(template), page_data(action="preview")).status_code == 200


def test_an_ordinary_artifact_is_no_template(client, owner, shop):
    client.force_login(owner)
    artifact = ArtifactFactory(owner=owner)
    assert client.get(use_url(artifact)).status_code == 404


# --- the API ----------------------------------------------------------------------------------


def api_url(artifact: Artifact) -> str:
    return f"/api/artifacts/{artifact.pk}/instantiate/"


BODY = {"data_source": "marketplace", "slots": ORDERS_BY_STATUS, "params": {"n": 2}}


def test_api_previews_and_saves(owner_api, owner, template):
    preview = owner_api.post(api_url(template), {**BODY, "preview": True}, format="json")
    assert preview.status_code == 200 and preview.json()["row_count"] == 2
    assert preview.json()["run_id"] is None
    saved = owner_api.post(api_url(template), {**BODY, "title": "Via API"}, format="json")
    assert saved.status_code == 201
    made = Artifact.objects.get(pk=saved.json()["id"])
    assert made.template == template and made.owner == owner and made.title == "Via API"


def test_api_field_errors(owner_api, template):
    bad = owner_api.post(
        api_url(template), {**BODY, "slots": {**ORDERS_BY_STATUS, "table": "nope"}}, format="json"
    )
    assert bad.status_code == 400 and "table" in bad.json()["slots"]
    source = owner_api.post(api_url(template), {**BODY, "data_source": "nowhere"}, format="json")
    assert source.status_code == 400 and "data_source" in source.json()
    params = owner_api.post(api_url(template), {**BODY, "params": {"n": "x"}}, format="json")
    assert params.status_code == 400 and "n" in params.json()["params"]


def test_api_other_user_gets_404_staff_may_use_anonymous_401(
    api_client, other_api, staff_api, template
):
    assert other_api.post(api_url(template), BODY, format="json").status_code == 404
    assert (
        staff_api.post(api_url(template), {**BODY, "preview": True}, format="json").status_code
        == 200
    )
    assert api_client.post(api_url(template), BODY, format="json").status_code in (401, 403)


# --- shipped templates ------------------------------------------------------------------------

# Relative date defaults ("-90 days") count back from today, as in the demo.
AS_OF = dt.date.today()


@pytest.fixture(scope="module")
def demo_rows():
    return demo.build_dataset(0.01, today=AS_OF)


@pytest.fixture
def marketplace(demo_rows, tmp_path, settings):
    path = tmp_path / "marketplace.sqlite3"
    demo.write_sqlite(demo_rows, path)
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}"
    settings.DEFAULT_DATA_SOURCE = "marketplace"
    clear_schema_cache()
    return path


def shipped() -> list[dict]:
    return json.loads(SHIPPED_TEMPLATES.read_text())["artifacts"]


def test_install_templates_is_idempotent_and_owned_by_the_library(marketplace, db):
    call_command("install_templates")
    first = set(Artifact.objects.values_list("uid", "updated_at"))
    assert install_templates()["unchanged"] == [item["title"] for item in shipped()]
    assert set(Artifact.objects.values_list("uid", "updated_at")) == first
    for template in Artifact.objects.all():
        assert template.owner.username == "library" and not template.owner.has_usable_password()
        assert not template.owner.is_staff
        assert template.visibility == Visibility.EVERYONE and template.is_verified
        assert template.is_template


def _check_shipped_on(source_name: str) -> None:
    source = get_data_source(source_name)
    for item in shipped():
        title, slots, params = TEMPLATE_EXAMPLES[item["uid"]]
        filled = fill_slots(item["template_slots"], source_name, slots)
        sql = render(item["sql"], filled, source)
        result = preview_sql(source_name, sql, declarations=item["parameters"], raw_params=params)
        assert result.row_count > 0, title


def test_shipped_templates_run_on_the_demo_marketplace_sqlite(marketplace):
    _check_shipped_on("marketplace")


@pytest.mark.postgres
def test_shipped_templates_run_on_a_postgresql_copy(demo_rows, postgres_database, settings):
    demo.write_postgresql(demo_rows, postgres_database)
    settings.DATA_SOURCES = f"pg={postgres_database}?allow_privileged=true"
    settings.DEFAULT_DATA_SOURCE = "pg"
    clear_schema_cache()
    _check_shipped_on("pg")


def test_the_demo_fills_in_each_shipped_template(marketplace, db, settings):
    from apps.llm_chat.demo import seed_app_demo

    settings.DEMO_PASSWORD = "demo-password-for-tests"
    install_templates()
    seed_app_demo(as_of=AS_OF)
    made = Artifact.objects.filter(template__isnull=False)
    assert made.count() == len(shipped())
    assert {a.owner.username for a in made} == {"demo"}
    seed_app_demo(as_of=AS_OF)
    assert Artifact.objects.filter(template__isnull=False).count() == len(shipped())


def test_the_new_artifact_links_its_template_for_those_who_may_see_it(client, owner, template):
    client.force_login(owner)
    client.post(use_url(template), page_data(action="save"))
    made = Artifact.objects.get(title="Mine")
    page = client.get(made.get_absolute_url())
    assert b'id="made-from-template"' in page.content
    assert template.get_absolute_url().encode() in page.content
    assert b'id="use-template"' in client.get(template.get_absolute_url()).content
    # Handed to someone who may not see the template: no link, no title.
    made.owner = UserFactory(username="newcomer")
    made.save()
    client.force_login(made.owner)
    page = client.get(made.get_absolute_url())
    assert page.status_code == 200 and b'id="made-from-template"' not in page.content


def test_a_source_the_user_may_not_use_is_refused_like_an_unknown_one(
    client, owner, template, settings, shop
):
    from apps.datasources.models import DataSourceGrant, DataSourcePolicy

    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop} secret=sqlite:///{shop}"
    policy = DataSourcePolicy.objects.create(source="secret")
    DataSourceGrant.objects.create(policy=policy, group=Group.objects.create(name="finance"))
    client.force_login(owner)
    page = client.get(use_url(template))
    assert b'<option value="secret"' not in page.content
    response = client.post(use_url(template), page_data(action="save", data_source="secret"))
    assert response.status_code == 422
    assert b"Unknown data source" in response.content
    assert Artifact.objects.count() == 1


def test_the_page_lists_no_tables_of_a_source_the_user_may_not_use(
    client, owner, template, settings, shop
):
    from apps.datasources.models import DataSourceGrant, DataSourcePolicy

    settings.DATA_SOURCES = f"marketplace=sqlite:///{shop} secret=sqlite:///{shop}"
    policy = DataSourcePolicy.objects.create(source="secret")
    DataSourceGrant.objects.create(policy=policy, group=Group.objects.create(name="finance"))
    client.force_login(owner)
    page = client.get(use_url(template), {"data_source": "secret"})
    assert page.status_code == 200 and b'<option value="orders"' not in page.content


def test_the_api_shows_and_checks_template_slots(owner_api, template):
    shown = owner_api.get(f"/api/artifacts/{template.pk}/").json()
    assert shown["template_slots"] == TOP_SLOTS and shown["template"] is None
    bad = owner_api.patch(
        f"/api/artifacts/{template.pk}/",
        {"template_slots": [*TOP_SLOTS, {"name": "extra", "kind": "nope"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["template_slots"][0].startswith('Slot "extra": the kind must be')
    made = owner_api.post(api_url(template), BODY, format="json").json()
    assert made["template"] == template.pk and made["template_slots"] == []


def test_postgresql_rendering_keeps_parameters_and_qualifies_a_schema_table():
    from apps.datasources.schema import TableInfo
    from apps.datasources.sources import DataSource, Engine

    source = DataSource(
        name="pg",
        engine=Engine.POSTGRESQL,
        location="postgresql://reader@db/shop",
        timeout_seconds=1,
        max_rows=10,
        export_max_rows=10,
    )
    table = TableInfo(name="sales.orders", columns=[], schema="sales", bare_name="orders")
    sql = render(TOP_SQL, {"table": table, "dimension": "Status", "measure": "total"}, source)
    assert '"sales"."orders"' in sql and '"Status"' in sql
    assert "LIMIT :n" in sql and "%(n)s" not in sql


def test_update_choices_only_redisplays(client, owner, template):
    client.force_login(owner)
    data = {"data_source": "marketplace", "slot_table": "orders", "action": "refresh"}
    response = client.post(use_url(template), data)
    assert response.status_code == 200
    assert b'<option value="ordered_at"' in response.content
    assert b"template-preview-result" not in response.content
    assert Artifact.objects.count() == 1 and not ArtifactRun.objects.exists()
