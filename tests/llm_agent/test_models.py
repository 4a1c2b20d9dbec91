from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.llm_agent.models import Agent
from apps.llm_agent.providers import read_api_key
from tests.llm_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db


def errors_for(agent: Agent) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc_info:
        agent.full_clean()
    return exc_info.value.message_dict


def test_a_valid_agent_passes_full_clean():
    AgentFactory.build().full_clean()


@pytest.mark.parametrize("temperature", [Decimal("-0.1"), Decimal("2.01")])
def test_temperature_must_be_between_0_and_2(temperature):
    assert "temperature" in errors_for(AgentFactory.build(temperature=temperature))


def test_database_refuses_temperature_out_of_range():
    with pytest.raises(IntegrityError), transaction.atomic():
        AgentFactory(temperature=Decimal("3"))


def test_rejects_unknown_provider():
    assert "provider" in errors_for(AgentFactory.build(provider="mistral"))


def test_openai_compatible_needs_a_base_url():
    agent = AgentFactory.build(provider=Agent.Provider.OPENAI_COMPATIBLE, base_url="")
    assert "base_url" in errors_for(agent)


def test_openai_needs_no_base_url():
    AgentFactory.build(provider=Agent.Provider.OPENAI, base_url="").full_clean()


def test_rejects_unknown_data_source():
    assert "data_source" in errors_for(AgentFactory.build(data_source="nowhere"))


@pytest.mark.parametrize("value", ["sk-live-1234 5678", "OPENAI-KEY", "1ABC"])
def test_api_key_env_must_be_a_variable_name_not_a_key(value):
    assert "api_key_env" in errors_for(AgentFactory.build(api_key_env=value))


def test_names_are_unique():
    AgentFactory(name="Analyst")
    duplicate = Agent(
        name="Analyst", provider="openai", model_name="gpt-4o-mini", data_source="marketplace"
    )
    assert "name" in errors_for(duplicate)


def test_api_key_comes_from_the_environment_and_is_never_stored(monkeypatch):
    agent = AgentFactory(provider=Agent.Provider.OPENAI, api_key_env="LLM_TEST_KEY")
    monkeypatch.delenv("LLM_TEST_KEY", raising=False)
    assert agent.api_key_is_set is False
    assert read_api_key(agent) is None

    monkeypatch.setenv("LLM_TEST_KEY", "sk-secret-value")
    assert agent.api_key_is_set is True
    assert read_api_key(agent) == "sk-secret-value"
    stored = Agent.objects.filter(pk=agent.pk).values().get()
    assert "sk-secret-value" not in repr(stored)


def test_without_a_variable_named_the_key_comes_from_the_providers_default(monkeypatch):
    agent = AgentFactory(provider=Agent.Provider.OPENAI, api_key_env="")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert (agent.api_key_env_name, agent.api_key_is_set) == ("OPENAI_API_KEY", False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    assert agent.api_key_is_set is True
    assert read_api_key(agent) == "sk-default"
    keyless = AgentFactory.build(provider=Agent.Provider.OPENAI_COMPATIBLE, api_key_env="")
    assert (keyless.api_key_env_name, keyless.api_key_is_set) == ("", False)


def test_active_lists_only_active_agents():
    active = AgentFactory(is_active=True)
    AgentFactory(is_active=False)
    assert list(Agent.objects.active()) == [active]
