from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.llm_agent.models import Agent


class AgentFactory(DjangoModelFactory):
    class Meta:
        model = Agent
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Agent {n}")
    description = "Answers questions about the marketplace."
    provider = Agent.Provider.OPENAI_COMPATIBLE
    model_name = "test-model"
    base_url = "http://127.0.0.1:9/v1"
    api_key_env = ""
    system_prompt = "You write SQL for the marketplace."
    data_source = "marketplace"
