"""Agents limited to groups: the new-chat page, the chat-create API and the agent API offer
and accept only the agents a user may use; any other reads like an unknown agent."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.datasources.models import DataSourceGrant, DataSourcePolicy
from apps.llm_chat.models import Chat
from tests.llm_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db

NEW = reverse("llm_chat:chat_new")
START = reverse("llm_chat:chat_create")
AGENTS = reverse("api:agent-list")
CHATS = reverse("api:chat-list")


@pytest.fixture
def agents(owner):
    """`Open` for everyone, `Finance` limited to the group finance (owner is a member),
    `Support` limited to support (nobody here)."""
    finance = Group.objects.create(name="finance")
    support = Group.objects.create(name="support")
    owner.groups.add(finance)
    open_agent = AgentFactory(name="Open")
    finance_agent = AgentFactory(name="Finance")
    finance_agent.groups.add(finance)
    support_agent = AgentFactory(name="Support")
    support_agent.groups.add(support)
    return {"open": open_agent, "finance": finance_agent, "support": support_agent}


def offered(client) -> list[str]:
    return [a.name for a in client.get(NEW).context["form"].agents]


def test_the_new_chat_page_offers_only_usable_agents(client, owner, other_user, staff, agents):
    client.force_login(owner)
    assert offered(client) == ["Finance", "Open"]
    client.force_login(other_user)
    assert offered(client) == ["Open"]
    assert "Support" not in client.get(NEW).content.decode()
    client.force_login(staff)
    assert offered(client) == ["Finance", "Open", "Support"]


def test_the_new_chat_page_refuses_another_agent_like_an_unknown_one(client, other_user, agents):
    client.force_login(other_user)
    refused = client.post(START, {"agent": agents["finance"].pk, "content": "Revenue?"})
    unknown = client.post(START, {"agent": 999_999, "content": "Revenue?"})
    assert refused.status_code == unknown.status_code == 422
    assert refused.context["form"].errors == unknown.context["form"].errors
    assert "agent" in refused.context["form"].errors
    assert not Chat.objects.exists()


def test_the_chat_api_accepts_only_usable_agents(owner_api, other_api, agents):
    refused = other_api.post(CHATS, {"agent": agents["finance"].pk, "title": "T"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"agent": [f"No active agent has id {agents['finance'].pk}."]}
    created = owner_api.post(CHATS, {"agent": agents["finance"].pk, "title": "T"}, format="json")
    assert created.status_code == 201, created.json()
    assert Chat.objects.get().agent == agents["finance"]


def test_the_agent_api_lists_and_reads_only_usable_agents(owner_api, other_api, agents):
    assert [a["name"] for a in owner_api.get(AGENTS).json()["results"]] == ["Finance", "Open"]
    assert [a["name"] for a in other_api.get(AGENTS).json()["results"]] == ["Open"]
    support = reverse("api:agent-detail", args=[agents["support"].pk])
    assert other_api.get(support).status_code == 404
    assert owner_api.get(support).status_code == 404


def test_an_agent_on_a_source_the_user_may_not_use_is_not_offered(
    client, other_user, owner, agents
):
    policy = DataSourcePolicy.objects.create(source="marketplace")
    DataSourceGrant.objects.create(policy=policy, group=Group.objects.get(name="finance"))
    client.force_login(other_user)
    assert offered(client) == []
    client.force_login(owner)
    assert offered(client) == ["Finance", "Open"]
