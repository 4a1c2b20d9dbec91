from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.llm_agent.models import Agent
from tests.llm_agent.factories import AgentFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:agent-list")
SECRET = "sk-test-abcdef0123456789"


def detail_url(agent: Agent) -> str:
    return reverse("api:agent-detail", args=[agent.pk])


def valid_payload(**overrides) -> dict:
    payload = {
        "name": "Local analyst",
        "provider": "openai_compatible",
        "model_name": "qwen2.5-coder:7b",
        "base_url": "http://127.0.0.1:11434/v1",
        "api_key_env": "LOCAL_LLM_KEY",
        "temperature": 0.3,
        "data_source": "marketplace",
    }
    payload.update(overrides)
    return payload


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_api", "other_api", "staff_api"])
def test_every_signed_in_user_reads_agents(request, persona):
    agent = AgentFactory(name="Analyst", api_key_env="ANALYST_KEY")
    client = request.getfixturevalue(persona)

    listing = client.get(LIST_URL)
    detail = client.get(detail_url(agent))

    assert listing.status_code == 200
    assert [row["name"] for row in listing.json()["results"]] == ["Analyst"]
    assert detail.status_code == 200
    # The variable's name is set-up detail: staff see it, other users do not.
    if persona == "staff_api":
        assert detail.json()["api_key_env"] == "ANALYST_KEY"
    else:
        assert "api_key_env" not in detail.json()
        assert "ANALYST_KEY" not in listing.content.decode() + detail.content.decode()


def test_the_key_itself_never_appears_only_whether_it_is_set(owner_api, monkeypatch):
    with_key = AgentFactory(name="Has key", api_key_env="ANALYST_KEY")
    without_key = AgentFactory(name="No key", api_key_env="MISSING_KEY")
    monkeypatch.setenv("ANALYST_KEY", SECRET)
    monkeypatch.delenv("MISSING_KEY", raising=False)

    listing = owner_api.get(LIST_URL)
    detail = owner_api.get(detail_url(with_key))

    assert SECRET not in listing.content.decode()
    assert SECRET not in detail.content.decode()
    by_name = {row["name"]: row for row in listing.json()["results"]}
    assert by_name["Has key"]["api_key_is_set"] is True
    assert by_name["No key"]["api_key_is_set"] is False
    assert owner_api.get(detail_url(without_key)).json()["api_key_is_set"] is False


def test_api_key_is_set_cannot_be_written(staff_api, monkeypatch):
    monkeypatch.delenv("LOCAL_LLM_KEY", raising=False)

    response = staff_api.post(LIST_URL, valid_payload(api_key_is_set=True), format="json")

    assert response.status_code == 201
    assert response.json()["api_key_is_set"] is False


def test_filters_active_agents(owner_api):
    AgentFactory(name="Active")
    AgentFactory(name="Retired", is_active=False)

    response = owner_api.get(LIST_URL, {"is_active": "true"})

    assert [row["name"] for row in response.json()["results"]] == ["Active"]


def test_unknown_agent_is_a_404(owner_api):
    assert owner_api.get(reverse("api:agent-detail", args=[999_999])).status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_refused(api_client, method):
    AgentFactory(name="Analyst")

    response = getattr(api_client, method)(LIST_URL, valid_payload(), format="json")

    assert response.status_code == 401
    assert "Analyst" not in response.content.decode()
    assert Agent.objects.count() == 1


# --- writing: staff only -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_api", "other_api"])
def test_non_staff_cannot_create_change_or_delete(request, persona):
    agent = AgentFactory(name="Analyst")
    client = request.getfixturevalue(persona)

    created = client.post(LIST_URL, valid_payload(), format="json")
    changed = client.patch(detail_url(agent), {"name": "Renamed"}, format="json")
    deleted = client.delete(detail_url(agent))

    assert (created.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert list(Agent.objects.values_list("name", flat=True)) == ["Analyst"]


def test_staff_creates_updates_and_deletes_an_agent(staff_api):
    created = staff_api.post(LIST_URL, valid_payload(), format="json")
    assert created.status_code == 201, created.json()
    agent = Agent.objects.get(pk=created.json()["id"])
    assert agent.api_key_env == "LOCAL_LLM_KEY"
    assert agent.temperature == Decimal("0.30")
    assert created.json()["temperature"] == 0.3

    changed = staff_api.patch(detail_url(agent), {"is_active": False}, format="json")
    assert changed.status_code == 200
    agent.refresh_from_db()
    assert agent.is_active is False

    assert staff_api.delete(detail_url(agent)).status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_an_agent_with_chats_is_not_deleted_but_explains_why(staff_api):
    agent = AgentFactory(name="Analyst")
    ChatFactory(agent=agent)

    response = staff_api.delete(detail_url(agent))

    assert response.status_code == 409
    assert "deactivate" in response.json()["detail"]
    assert Agent.objects.filter(pk=agent.pk).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"base_url": ""}, "base_url", "needs the server's base URL"),
        ({"base_url": "not a url"}, "base_url", "valid URL"),
        ({"temperature": 2.5}, "temperature", "less than or equal to 2"),
        ({"temperature": -0.1}, "temperature", "greater than or equal to 0"),
        ({"data_source": "nowhere"}, "data_source", "Unknown data source"),
        ({"api_key_env": SECRET}, "api_key_env", "not the key"),
        ({"provider": "mistral"}, "provider", "not a valid choice"),
        ({"max_output_tokens": 0}, "max_output_tokens", "greater than or equal to 1"),
        ({"model_name": ""}, "model_name", "blank"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(staff_api, overrides, field, words):
    response = staff_api.post(LIST_URL, valid_payload(**overrides), format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert not Agent.objects.exists()
    assert SECRET not in response.content.decode()


def test_duplicate_name_is_a_400(staff_api):
    AgentFactory(name="Local analyst")

    response = staff_api.post(LIST_URL, valid_payload(), format="json")

    assert response.status_code == 400
    assert "name" in response.json()


def test_switching_to_openai_compatible_needs_a_base_url(staff_api):
    agent = AgentFactory(name="Cloud", provider="openai", base_url="")

    response = staff_api.patch(detail_url(agent), {"provider": "openai_compatible"}, format="json")

    assert response.status_code == 400
    assert "base_url" in response.json()
    agent.refresh_from_db()
    assert agent.provider == "openai"


def test_anthropic_needs_no_base_url(staff_api):
    response = staff_api.post(
        LIST_URL,
        valid_payload(provider="anthropic", base_url="", model_name="claude-sonnet-4-5"),
        format="json",
    )

    assert response.status_code == 201, response.json()
