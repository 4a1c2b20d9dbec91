"""The agent admin's data source: a select of the configured sources, never a free text."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.llm_agent.models import Agent
from tests.llm_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:llm_agent_agent_add")


@pytest.fixture(autouse=True)
def sources(settings):
    settings.DATA_SOURCES = "marketplace=sqlite:///var/a.sqlite3 warehouse=sqlite:///var/b.sqlite3"
    settings.DEFAULT_DATA_SOURCE = "marketplace"


def options(html: str) -> list[tuple[str, str, bool]]:
    select = re.search(r'<select name="data_source"[^>]*>(.*?)</select>', html, re.S)
    assert select, "the data source is a select"
    return [
        (value, label.strip(), bool(selected))
        for value, selected, label in re.findall(
            r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select.group(1)
        )
    ]


def form_data(agent: Agent, **changes) -> dict:
    data = {
        "name": agent.name,
        "description": agent.description,
        "is_active": "on",
        "provider": agent.provider,
        "model_name": agent.model_name,
        "base_url": agent.base_url,
        "temperature": str(agent.temperature),
        "max_output_tokens": str(agent.max_output_tokens),
        "api_key_env": agent.api_key_env,
        "data_source": agent.data_source,
        "system_prompt": agent.system_prompt,
    }
    return {**data, **changes}


def test_add_page_offers_the_configured_sources_with_the_default_chosen(staff_client):
    html = staff_client.get(ADD_URL).content.decode()
    assert options(html) == [
        ("marketplace", "marketplace", True),
        ("warehouse", "warehouse", False),
    ]


def test_change_page_selects_the_agents_source(staff_client):
    agent = AgentFactory(data_source="warehouse")
    html = staff_client.get(reverse("admin:llm_agent_agent_change", args=[agent.pk])).content
    assert ("warehouse", "warehouse", True) in options(html.decode())


def test_a_source_no_longer_configured_is_kept_and_marked(staff_client):
    agent = AgentFactory(data_source="marketplace")
    Agent.objects.filter(pk=agent.pk).update(data_source="retired")
    url = reverse("admin:llm_agent_agent_change", args=[agent.pk])

    html = staff_client.get(url).content.decode()
    assert options(html)[0] == ("retired", "retired (not configured)", True)

    # Saving it as it is says why at the field; choosing a configured one saves.
    agent.refresh_from_db()
    response = staff_client.post(url, form_data(agent))
    assert response.status_code == 200
    assert "Unknown data source &#x27;retired&#x27;" in response.content.decode()
    response = staff_client.post(url, form_data(agent, data_source="warehouse"))
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.data_source == "warehouse"


def test_a_posted_name_outside_the_choices_is_refused(staff_client):
    agent = AgentFactory(data_source="marketplace")
    url = reverse("admin:llm_agent_agent_change", args=[agent.pk])
    response = staff_client.post(url, form_data(agent, data_source="../etc/passwd"))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    agent.refresh_from_db()
    assert agent.data_source == "marketplace"


def test_non_staff_cannot_open_the_form(client, owner):
    client.force_login(owner)
    response = client.get(ADD_URL)
    assert response.status_code == 302
    assert reverse("admin:login") in response.url
