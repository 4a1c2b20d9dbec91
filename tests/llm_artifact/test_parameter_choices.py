"""A text parameter can declare its allowed values: they are checked on save and on every
run (page, card, API, agent), and the run forms show them as a select."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.datasources.demo import ORDER_STATUSES
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.parameters import resolve_values, validate_declarations
from apps.llm_chat.demo import ARTIFACTS
from tests.llm_artifact.factories import ArtifactFactory

HTMX = {"HX-Request": "true"}
STATUS = {
    "name": "status",
    "type": "string",
    "label": "Status",
    "default": "delivered",
    "choices": ["paid", "delivered", "cancelled"],
}
BY_STATUS = "SELECT id, total FROM orders WHERE status = :status ORDER BY id"


@pytest.fixture
def orders(shop, owner) -> Artifact:
    return ArtifactFactory(owner=owner, sql_query=BY_STATUS, query_params=[STATUS])


@pytest.mark.parametrize(
    ("declaration", "words"),
    [
        ({**STATUS, "default": "returned"}, "default 'returned' is not one of its choices"),
        ({**STATUS, "choices": []}, "choices must be a non-empty list of texts"),
        ({**STATUS, "choices": "paid"}, "choices must be a non-empty list of texts"),
        ({**STATUS, "choices": ["paid", "paid", "delivered"]}, "choices must not repeat"),
        ({**STATUS, "choices": ["delivered", 3]}, "choice 3 must be a text"),
        ({"name": "n", "type": "integer", "choices": ["1"]}, "for text parameters only"),
    ],
)
def test_malformed_choices_are_refused(declaration, words):
    with pytest.raises(ValidationError) as caught:
        validate_declarations([declaration])
    assert words in " ".join(caught.value.messages)


def test_a_value_must_be_one_of_the_choices():
    assert resolve_values([STATUS], {"status": "cancelled"}) == {"status": "cancelled"}
    assert resolve_values([STATUS], {}) == {"status": "delivered"}
    with pytest.raises(ValidationError) as caught:
        resolve_values([STATUS], {"status": "lost"})
    assert (
        "'lost' is not one of the allowed values ('paid', 'delivered', 'cancelled')"
        in (caught.value.message_dict["status"][0])
    )


def test_the_run_form_offers_the_choices_as_a_select(owner_client, orders):
    content = owner_client.get(orders.get_absolute_url()).content.decode()
    assert re.search(r'<select name="status" [^>]*class="form-select" id="param-status"', content)
    assert '<option value="delivered" selected>delivered</option>' in content
    assert '<option value="cancelled">cancelled</option>' in content


def test_the_page_refuses_a_value_outside_the_choices(owner_client, orders):
    url = reverse("llm_artifact:artifact_run", args=[orders.pk])
    response = owner_client.post(url, {"status": "lost"}, headers=HTMX)
    assert response.status_code == 422
    assert "is not one of the allowed values" in response.content.decode()
    assert not ArtifactRun.objects.exists()


def test_the_card_offers_the_choices_and_refuses_others(owner_client, orders):
    url = reverse("llm_artifact:artifact_card_run", args=[orders.pk])
    content = owner_client.post(url, {"status": "lost"}, headers=HTMX).content.decode()
    assert '<select name="status"' in content
    assert "is not one of the allowed values" in content
    assert not ArtifactRun.objects.exists()


def test_the_api_checks_declarations_and_values(owner_api, orders, shop):
    created = owner_api.post(
        reverse("api:artifact-list"),
        {
            "title": "Orders",
            "sql_query": BY_STATUS,
            "query_params": [{**STATUS, "default": "returned"}],
        },
        format="json",
    )
    assert created.status_code == 400
    assert "is not one of its choices" in str(created.json())

    url = reverse("api:artifact-execute", args=[orders.pk])
    refused = owner_api.post(url, {"params": {"status": "lost"}}, format="json")
    assert refused.status_code == 400
    assert "is not one of the allowed values" in " ".join(refused.json()["params"]["status"])
    ran = owner_api.post(url, {"params": {"status": "cancelled"}}, format="json")
    assert ran.status_code == 200


def test_the_api_schema_describes_choices(owner_api):
    schema = owner_api.get(reverse("api-schema"), {"format": "json"}).json()
    assert "choices" in str(schema) and "the values allowed" in str(schema)


def test_the_demo_order_status_declares_the_statuses():
    params = ARTIFACTS["orders_with_status"].params
    [status] = [p for p in params if p["name"] == "status"]
    assert status["choices"] == list(ORDER_STATUSES)
    validate_declarations([status])
