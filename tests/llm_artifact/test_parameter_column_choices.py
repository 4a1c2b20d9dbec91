"""A text parameter can take its allowed values from a column of the data source
(`choices_from`): read with SELECT DISTINCT through the executor, at most 200 listed, cached
and refreshed on save; run forms, cards and the API show them, and runs refuse others."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.datasources import executor
from apps.llm_artifact import column_values
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.parameters import resolve_values, validate_declarations
from tests.datasources import sample
from tests.llm_artifact.factories import ArtifactFactory

HTMX = {"HX-Request": "true"}
STATUS = {
    "name": "status",
    "type": "string",
    "label": "Status",
    "default": "paid",
    "choices_from": {"table": "orders", "column": "status"},
}
BY_STATUS = "SELECT id, total FROM orders WHERE status = :status ORDER BY id"
# The sample shop's statuses, as the database sorts them.
STATUSES = ["cancelled", "delivered", "new", "paid", "returned", "shipped"]


@pytest.fixture
def orders(shop, owner) -> Artifact:
    artifact = ArtifactFactory.build(owner=owner, sql_query=BY_STATUS, query_params=[STATUS])
    artifact.full_clean()
    artifact.save()
    return artifact


@pytest.fixture
def queries(monkeypatch) -> list[str]:
    """The SQL every executor call runs, in order."""
    seen: list[str] = []
    real = executor.execute

    def counting(source, sql, *args, **kwargs):
        seen.append(sql)
        return real(source, sql, *args, **kwargs)

    monkeypatch.setattr(executor, "execute", counting)
    return seen


def read_statuses() -> list[str]:
    return column_values.read_column_values("marketplace", "orders", "status").values


def write(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)


# --- declarations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declaration", "words"),
    [
        ({**STATUS, "type": "integer", "default": 1}, "choices_from is for text parameters"),
        ({**STATUS, "choices": ["paid"]}, "either choices or choices_from, not both"),
        ({**STATUS, "choices_from": "orders.status"}, 'must be {"table": ..., "column": ...}'),
        ({**STATUS, "choices_from": {"table": "orders"}}, 'must be {"table": ..., "column": ...}'),
        ({**STATUS, "choices_from": {"table": "", "column": "status"}}, "table '' must be a name"),
        ({**STATUS, "choices_from": {"table": "orders", "column": 3}}, "column 3 must be a name"),
    ],
)
def test_malformed_choices_from_is_refused(declaration, words):
    with pytest.raises(ValidationError) as caught:
        validate_declarations([declaration])
    [message] = caught.value.messages
    assert message.startswith("Parameter 'status': ")
    assert words in message


@pytest.mark.parametrize(
    ("choices_from", "words"),
    [
        ({"table": "order", "column": "status"}, "the data source has no table 'order'"),
        (
            {"table": "orders", "column": "state"},
            "table 'orders' has no column 'state' (columns: id, customer_id, category_id, "
            "status, ordered_at, total)",
        ),
    ],
)
def test_the_table_and_column_must_exist_in_the_source(shop, owner, choices_from, words):
    artifact = ArtifactFactory.build(
        owner=owner, sql_query=BY_STATUS, query_params=[{**STATUS, "choices_from": choices_from}]
    )
    with pytest.raises(ValidationError) as caught:
        artifact.full_clean()
    [message] = caught.value.message_dict["query_params"]
    assert message == f"Parameter 'status': choices_from: {words}."


def test_the_default_must_be_a_value_of_the_column(shop, owner):
    artifact = ArtifactFactory.build(
        owner=owner, sql_query=BY_STATUS, query_params=[{**STATUS, "default": "lost"}]
    )
    with pytest.raises(ValidationError) as caught:
        artifact.full_clean()
    [message] = caught.value.message_dict["query_params"]
    assert message.startswith(
        "Parameter 'status': default 'lost' is not a value of column 'status' of 'orders' "
        "('cancelled', 'delivered',"
    )


def test_names_are_matched_as_the_database_folds_them(shop, owner):
    declaration = {**STATUS, "choices_from": {"table": "Orders", "column": "STATUS"}}
    artifact = ArtifactFactory.build(owner=owner, sql_query=BY_STATUS, query_params=[declaration])
    artifact.full_clean()
    assert resolve_values([declaration], {}, data_source="marketplace") == {"status": "paid"}


# --- runs -----------------------------------------------------------------------------------


def test_values_are_checked_against_the_column(orders):
    assert resolve_values([STATUS], {"status": "new"}, data_source="marketplace") == {
        "status": "new"
    }
    with pytest.raises(ValidationError) as caught:
        resolve_values([STATUS], {"status": "lost"}, data_source="marketplace")
    assert caught.value.message_dict["status"] == [
        "Parameter 'status': 'lost' is not a value of column 'status' of 'orders' "
        "('cancelled', 'delivered', 'new', 'paid', 'returned', 'shipped')."
    ]


def test_the_run_form_offers_the_columns_values_as_a_select(owner_client, orders):
    content = owner_client.get(orders.get_absolute_url()).content.decode()
    select = re.search(r'<select name="status"[^>]*id="param-status".*?</select>', content, re.S)
    assert select
    options = re.findall(r'<option value="([^"]*)"', select.group(0))
    assert options == STATUSES
    assert '<option value="paid" selected>paid</option>' in select.group(0)


def test_the_page_runs_a_listed_value_and_refuses_others(owner_client, orders):
    url = reverse("llm_artifact:artifact_run", args=[orders.pk])
    refused = owner_client.post(url, {"status": "lost"}, headers=HTMX)
    assert refused.status_code == 422
    assert "is not a value of column &#x27;status&#x27; of &#x27;orders&#x27;" in (
        refused.content.decode()
    )
    assert not ArtifactRun.objects.exists()
    ran = owner_client.post(url, {"status": "returned"}, headers=HTMX)
    assert ran.status_code == 200
    assert ArtifactRun.objects.get().params == {"status": "returned"}


def test_the_card_offers_the_values_and_refuses_others(owner_client, orders):
    url = reverse("llm_artifact:artifact_card_run", args=[orders.pk])
    content = owner_client.post(url, {"status": "lost"}, headers=HTMX).content.decode()
    assert re.search(r'<select name="status"', content)
    assert '<option value="shipped">shipped</option>' in content
    assert "is not a value of column" in content
    assert not ArtifactRun.objects.exists()


def test_the_api_describes_the_values_and_refuses_others(owner_api, orders):
    body = owner_api.get(reverse("api:artifact-detail", args=[orders.pk])).json()
    [status] = body["parameters"]
    assert status["choices_from"] == {"table": "orders", "column": "status"}
    assert status["allowed_values"] == STATUSES
    assert status["allowed_values_more"] is False
    assert status["allowed_values_error"] == ""
    url = reverse("api:artifact-execute", args=[orders.pk])
    refused = owner_api.post(url, {"params": {"status": "lost"}}, format="json")
    assert refused.status_code == 400
    assert "is not a value of column 'status'" in refused.json()["params"]["status"][0]
    assert owner_api.post(url, {"params": {"status": "new"}}, format="json").status_code == 200


def test_the_api_refuses_a_missing_column_naming_the_parameter(owner_api, shop):
    response = owner_api.post(
        reverse("api:artifact-list"),
        {
            "title": "By status",
            "sql_query": BY_STATUS,
            "query_params": [{**STATUS, "choices_from": {"table": "orders", "column": "stat"}}],
        },
        format="json",
    )
    assert response.status_code == 400
    [message] = response.json()["query_params"]
    assert message.startswith("Parameter 'status': choices_from: table 'orders' has no column")


def test_an_unreadable_column_leaves_a_plain_input_that_says_why(owner_client, orders, shop):
    write(shop, "ALTER TABLE orders RENAME COLUMN status TO state")
    from apps.datasources.schema import clear_schema_cache

    clear_schema_cache()
    column_values.read_column_values("marketplace", "orders", "status", refresh=True)
    content = owner_client.get(orders.get_absolute_url()).content.decode()
    assert re.search(r'<input type="text" name="status" value="paid"', content)
    assert "allowed values could not be read: table &#x27;orders&#x27; has no column" in content


# --- bounded, cached, refreshed ---------------------------------------------------------------


@pytest.fixture
def many_skus(shop: Path) -> Path:
    """A table whose column holds 250 distinct values (and NULLs), under names that need
    quoting."""
    write(
        shop,
        'CREATE TABLE "stock items" (id INTEGER PRIMARY KEY, "the sku" TEXT)',
        *(f'INSERT INTO "stock items" ("the sku") VALUES (\'sku-{n:03d}\')' for n in range(250)),
        'INSERT INTO "stock items" ("the sku") VALUES (NULL)',
    )
    return shop


def test_at_most_200_values_are_listed_and_the_rest_still_count(owner_api, owner, many_skus):
    declaration = {
        "name": "sku",
        "type": "string",
        "choices_from": {"table": "stock items", "column": "the sku"},
    }
    artifact = ArtifactFactory(
        owner=owner,
        sql_query='SELECT id FROM "stock items" WHERE "the sku" = :sku',
        query_params=[declaration],
    )
    [sku] = owner_api.get(reverse("api:artifact-detail", args=[artifact.pk])).json()["parameters"]
    assert sku["allowed_values"] == [f"sku-{n:03d}" for n in range(200)]
    assert sku["allowed_values_more"] is True
    # Past the listed ones, the column itself is asked; NULL is never a value.
    values = resolve_values([declaration], {"sku": "sku-249"}, data_source="marketplace")
    assert values == {"sku": "sku-249"}
    with pytest.raises(ValidationError) as caught:
        resolve_values([declaration], {"sku": "sku-250"}, data_source="marketplace")
    assert "'sku-250' is not a value of column 'the sku'" in str(caught.value)
    assert "…" in str(caught.value)


def test_past_200_values_the_form_suggests_the_first_and_takes_any(owner_client, owner, many_skus):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query='SELECT id FROM "stock items" WHERE "the sku" = :sku',
        query_params=[
            {
                "name": "sku",
                "type": "string",
                "choices_from": {"table": "stock items", "column": "the sku"},
            }
        ],
    )
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    # A text input that suggests the first values and takes any of the others.
    assert re.search(r'<input type="text" name="sku" [^>]*list="param-sku-values"', content)
    assert '<datalist id="param-sku-values"><option value="sku-000"></option>' in content
    assert content.count('<option value="sku-') == 200
    assert "suggests the first 200 values of the column" in content
    url = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    assert owner_client.post(url, {"sku": "sku-249"}, headers=HTMX).status_code == 200
    assert owner_client.post(url, {"sku": "sku-999"}, headers=HTMX).status_code == 422


def test_the_values_are_read_once_then_cached(queries, owner_client, orders):
    # Saving the artifact read them; the pages take them from the cache.
    for _ in range(3):
        owner_client.get(orders.get_absolute_url())
    distinct = [sql for sql in queries if "DISTINCT" in sql]
    assert distinct == [
        'SELECT DISTINCT "status" FROM "orders" WHERE NOT "status" IS NULL ORDER BY 1 LIMIT 201'
    ]


def test_saving_the_artifact_refreshes_the_values(owner_api, orders, shop):
    assert column_values.read_column_values("marketplace", "orders", "status").values == STATUSES
    write(shop, "UPDATE orders SET status = 'on hold' WHERE id = 7")
    # Cached: the change is not seen yet.
    assert "on hold" not in read_statuses()
    response = owner_api.patch(
        reverse("api:artifact-detail", args=[orders.pk]), {"title": "Renamed"}, format="json"
    )
    assert response.status_code == 200
    [status] = response.json()["parameters"]
    assert status["allowed_values"] == [
        "cancelled",
        "delivered",
        "on hold",
        "paid",
        "returned",
        "shipped",
    ]


def test_the_cached_values_expire(monkeypatch, orders, shop):
    monkeypatch.setattr(column_values, "CACHE_SECONDS", 1)
    column_values.read_column_values("marketplace", "orders", "status", refresh=True)
    write(shop, "UPDATE orders SET status = 'on hold' WHERE id = 7")
    assert (
        "on hold" not in column_values.read_column_values("marketplace", "orders", "status").values
    )
    time.sleep(1.1)
    assert "on hold" in column_values.read_column_values("marketplace", "orders", "status").values


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_values_from_a_postgresql_column(owner_api, owner_client, owner, postgres_url, settings):
    from tests.postgres import shop_database

    with shop_database(postgres_url, sample.load_postgres) as database:
        settings.DATA_SOURCES = f"pg={database.reader_url}"
        missing = ArtifactFactory.build(
            owner=owner,
            data_source="pg",
            sql_query=BY_STATUS,
            query_params=[{**STATUS, "choices_from": {"table": "orders", "column": "stat"}}],
        )
        with pytest.raises(ValidationError, match="table 'orders' has no column 'stat'"):
            missing.full_clean()
        artifact = ArtifactFactory.build(
            owner=owner, data_source="pg", sql_query=BY_STATUS, query_params=[STATUS]
        )
        artifact.full_clean()
        artifact.save()

        [status] = owner_api.get(reverse("api:artifact-detail", args=[artifact.pk])).json()[
            "parameters"
        ]
        assert status["allowed_values"] == STATUSES
        content = owner_client.get(artifact.get_absolute_url()).content.decode()
        assert '<option value="returned">returned</option>' in content
        url = reverse("api:artifact-execute", args=[artifact.pk])
        refused = owner_api.post(url, {"params": {"status": "lost"}}, format="json")
        assert refused.status_code == 400
        ran = owner_api.post(url, {"params": {"status": "delivered"}}, format="json")
        assert ran.status_code == 200
        assert ran.json()["rows"] == [[2, 35], [6, 80]]


@pytest.mark.postgres
def test_past_the_listed_values_postgresql_is_asked_with_a_bound_value(
    owner, postgres_url, settings, monkeypatch
):
    from tests.postgres import shop_database

    monkeypatch.setattr(column_values, "MAX_VALUES", 2)
    with shop_database(postgres_url, sample.load_postgres) as database:
        settings.DATA_SOURCES = f"pg={database.reader_url}"
        allowed = column_values.read_column_values("pg", "orders", "status")
        assert allowed.values == ["cancelled", "delivered"] and allowed.more
        assert resolve_values([STATUS], {"status": "shipped"}, data_source="pg") == {
            "status": "shipped"
        }
        with pytest.raises(ValidationError):
            resolve_values([STATUS], {"status": "x' OR '1'='1"}, data_source="pg")


# --- properties -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    choices_from=st.one_of(
        json_values, st.fixed_dictionaries({"table": json_values, "column": json_values})
    ),
    param_type=st.sampled_from(["string", "integer", "date"]),
)
def test_any_choices_from_is_accepted_or_a_message_naming_the_parameter(choices_from, param_type):
    declaration = {"name": "p", "type": param_type, "choices_from": choices_from}
    try:
        validate_declarations([declaration])
    except ValidationError as exc:
        assert all(message.startswith("Parameter 'p': ") for message in exc.messages)
    else:
        assert param_type == "string"
        assert set(choices_from) == {"table", "column"}


def test_a_source_that_is_down_is_not_asked_on_every_page(orders, settings, monkeypatch):
    settings.DATA_SOURCES = "marketplace=postgresql://reader@127.0.0.1:9/shop?timeout=1"
    from apps.datasources.schema import clear_schema_cache

    clear_schema_cache()
    asked: list[str] = []
    real = column_values.find_column

    def counting(source, table, column):
        asked.append(table)
        return real(source, table, column)

    monkeypatch.setattr(column_values, "find_column", counting)
    first = column_values.read_column_values("marketplace", "orders", "status", refresh=True)
    assert first.error and first.values == []
    assert asked == ["orders"]
    again = column_values.read_column_values("marketplace", "orders", "status")
    assert again.error == first.error
    assert asked == ["orders"]
