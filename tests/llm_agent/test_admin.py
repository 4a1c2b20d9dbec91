"""The agent admin: counts, filters, actions, and an API key that never shows."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from apps.llm_agent.models import Agent
from tests.conftest import UserFactory
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:llm_agent_agent_changelist")
SECRET = "sk-live-0123456789abcdefSECRET"


def change_url(agent: Agent) -> str:
    return reverse("admin:llm_agent_agent_change", args=[agent.pk])


def names_listed(response) -> set[str]:
    return {agent.name for agent in response.context["cl"].result_list}


def test_changelist_and_change_page_load_for_staff(staff_client, owner):
    agent = AgentFactory(name="Analyst", provider=Agent.Provider.OPENAI, model_name="gpt-4.1")
    ChatFactory.create_batch(2, agent=agent, owner=owner)
    ArtifactFactory.create_batch(3, agent=agent, owner=owner)

    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Analyst" in html
    assert "gpt-4.1" in html
    chats_url = reverse("admin:llm_chat_chat_changelist")
    artifacts_url = reverse("admin:llm_artifact_artifact_changelist")
    assert f'<a href="{chats_url}?agent__id__exact={agent.pk}">2</a>' in html
    assert f'<a href="{artifacts_url}?agent__id__exact={agent.pk}">3</a>' in html

    response = staff_client.get(change_url(agent))
    assert response.status_code == 200
    assert "gpt-4.1" in response.content.decode()


def test_counts_do_not_multiply_each_other(staff_client, owner):
    # Joined Count()s would report 2 x 3 = 6 for both columns.
    agent = AgentFactory()
    ChatFactory.create_batch(2, agent=agent, owner=owner)
    ArtifactFactory.create_batch(3, agent=agent, owner=owner)
    AgentFactory(name="Idle")

    response = staff_client.get(CHANGELIST)

    counts = {a.name: (a.chat_count, a.artifact_count) for a in response.context["cl"].result_list}
    assert counts == {agent.name: (2, 3), "Idle": (0, 0)}


def test_sorts_by_chat_count(staff_client, owner):
    busy = AgentFactory(name="Busy")
    ChatFactory.create_batch(3, agent=busy, owner=owner)
    AgentFactory(name="Quiet")
    # The changelist sorts by column position (?o=N, -N for descending).
    position = staff_client.get(CHANGELIST).context["cl"].list_display.index("chat_count")

    descending = staff_client.get(CHANGELIST, {"o": f"-{position}"})
    ascending = staff_client.get(CHANGELIST, {"o": f"{position}"})

    assert [a.name for a in descending.context["cl"].result_list] == ["Busy", "Quiet"]
    assert [a.name for a in ascending.context["cl"].result_list] == ["Quiet", "Busy"]


@pytest.mark.parametrize(
    "url",
    [CHANGELIST, "change"],
)
def test_non_staff_is_sent_to_admin_login(client, owner, url):
    agent = AgentFactory()
    client.force_login(owner)
    target = change_url(agent) if url == "change" else url

    response = client.get(target)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_is_sent_to_admin_login(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_search_finds_by_name_and_model(staff_client):
    AgentFactory(name="Revenue analyst", model_name="qwen2.5-coder:7b")
    AgentFactory(name="Support bot", model_name="llama3.1")

    assert names_listed(staff_client.get(CHANGELIST, {"q": "revenue"})) == {"Revenue analyst"}
    assert names_listed(staff_client.get(CHANGELIST, {"q": "llama"})) == {"Support bot"}


def test_filters_on_provider_activity_and_data_source(staff_client):
    AgentFactory(name="A", provider=Agent.Provider.OPENAI, is_active=True)
    AgentFactory(name="B", provider=Agent.Provider.ANTHROPIC, is_active=False)
    AgentFactory(name="C", data_source="warehouse")

    assert names_listed(staff_client.get(CHANGELIST, {"provider__exact": "anthropic"})) == {"B"}
    assert names_listed(staff_client.get(CHANGELIST, {"is_active__exact": "0"})) == {"B"}
    assert names_listed(staff_client.get(CHANGELIST, {"data_source": "warehouse"})) == {"C"}


def test_deactivate_and_activate_actions(staff_client, staff):
    on = AgentFactory(name="On", is_active=True)
    off = AgentFactory(name="Off", is_active=False)
    before = on.updated_at

    response = staff_client.post(
        CHANGELIST,
        {"action": "deactivate", "_selected_action": [on.pk, off.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 agent marked as inactive. 1 already was." in response.content.decode()
    on.refresh_from_db()
    assert on.is_active is False
    assert on.updated_at > before
    # Only the agent that really changed gets a history entry.
    entries = LogEntry.objects.filter(user=staff)
    assert [(e.object_id, e.get_change_message()) for e in entries] == [
        (str(on.pk), "Changed Is active.")
    ]

    staff_client.post(CHANGELIST, {"action": "activate", "_selected_action": [on.pk, off.pk]})

    assert set(Agent.objects.values_list("name", "is_active")) == {("On", True), ("Off", True)}


def test_api_key_shows_only_variable_name_and_that_it_is_set(staff_client, monkeypatch, owner):
    monkeypatch.setenv("ANALYST_TEST_API_KEY", SECRET)
    agent = AgentFactory(api_key_env="ANALYST_TEST_API_KEY", provider=Agent.Provider.OPENAI)
    chat = ChatFactory(agent=agent, owner=owner)
    artifact = ArtifactFactory(agent=agent, chat=chat, owner=owner)

    for url in (CHANGELIST, change_url(agent), CHANGELIST + "?q=ANALYST"):
        html = staff_client.get(url).content.decode()
        assert SECRET not in html
        assert "ANALYST_TEST_API_KEY" in html
        assert "✓ set" in html
    # Pages that show the agent elsewhere do not leak it either.
    for url in (
        reverse("admin:llm_chat_chat_changelist"),
        reverse("admin:llm_chat_chat_change", args=[chat.pk]),
        reverse("admin:llm_artifact_artifact_changelist"),
        reverse("admin:llm_artifact_artifact_change", args=[artifact.pk]),
        reverse("admin:llm_agent_agent_history", args=[agent.pk]),
    ):
        response = staff_client.get(url)
        assert response.status_code == 200
        assert SECRET not in response.content.decode()


def test_api_key_missing_from_environment_shows_not_set(staff_client, monkeypatch):
    monkeypatch.delenv("ANALYST_MISSING_KEY", raising=False)
    agent = AgentFactory(api_key_env="ANALYST_MISSING_KEY")

    html = staff_client.get(change_url(agent)).content.decode()

    assert "ANALYST_MISSING_KEY" in html
    assert "✗ not set" in html
    assert "✓ set" not in html


def test_agent_without_key_variable_says_so(staff_client):
    agent = AgentFactory(api_key_env="")

    html = staff_client.get(change_url(agent)).content.decode()

    assert "none (keyless server)" in html


def test_openai_agent_without_a_variable_shows_the_providers_default_as_set(
    staff_client, monkeypatch
):
    # The provider reads OPENAI_API_KEY when the agent names no variable; the admin agrees.
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    agent = AgentFactory(provider=Agent.Provider.OPENAI, base_url="", api_key_env="")

    html = staff_client.get(change_url(agent)).content.decode()

    assert "OPENAI_API_KEY" in html and "✓ set" in html
    assert "none (keyless server)" not in html
    assert SECRET not in html


def test_add_form_rejects_a_pasted_key_instead_of_a_variable_name(staff_client):
    response = staff_client.post(
        reverse("admin:llm_agent_agent_add"),
        {
            "name": "Pasted",
            "description": "",
            "is_active": "on",
            "provider": "openai",
            "model_name": "gpt-4.1",
            "base_url": "",
            "temperature": "0.2",
            "max_output_tokens": "2048",
            "api_key_env": "sk-live 0123",
            "data_source": "marketplace",
            "system_prompt": "",
        },
    )

    assert response.status_code == 200
    assert "Give the name of an environment variable" in response.content.decode()
    assert not Agent.objects.filter(name="Pasted").exists()


def test_add_page_loads(staff_client):
    assert staff_client.get(reverse("admin:llm_agent_agent_add")).status_code == 200


def test_add_form_creates_an_agent(staff_client):
    response = staff_client.post(
        reverse("admin:llm_agent_agent_add"),
        {
            "name": "Local",
            "description": "",
            "is_active": "on",
            "provider": "openai_compatible",
            "model_name": "qwen2.5-coder:7b",
            "base_url": "http://127.0.0.1:11434/v1",
            "temperature": "0.2",
            "max_output_tokens": "2048",
            "api_key_env": "",
            "data_source": "marketplace",
            "system_prompt": "",
        },
    )

    assert response.status_code == 302
    assert Agent.objects.get(name="Local").base_url == "http://127.0.0.1:11434/v1"


def make_agents(count: int, owner) -> None:
    for _ in range(count):
        agent = AgentFactory()
        ChatFactory(agent=agent, owner=owner)
        ArtifactFactory(agent=agent, owner=owner)


def test_changelist_query_count_does_not_grow_with_rows(staff_client, assert_get_queries):
    owner = UserFactory()
    make_agents(5, owner)
    assert_get_queries(staff_client, CHANGELIST, most=8)
    make_agents(45, owner)
    assert_get_queries(staff_client, CHANGELIST, most=8)
