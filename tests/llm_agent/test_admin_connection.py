"""The agent admin: "Test connection" (action and button) and the per-agent call totals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.llm_agent.admin import AgentAdmin
from apps.llm_agent.models import Agent, ModelCall
from tests.conftest import UserFactory
from tests.fakes.llm_server import HTTPError, say
from tests.llm_agent.factories import AgentFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:llm_agent_agent_changelist")
SECRET = "sk-live-0123456789abcdefSECRET"


def change_url(agent: Agent) -> str:
    return reverse("admin:llm_agent_agent_change", args=[agent.pk])


def check_url(agent: Agent) -> str:
    return reverse("admin:llm_agent_agent_test", args=[agent.pk])


def shown_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def run_action(client, agents: list[Agent]):
    return client.post(
        CHANGELIST,
        {"action": "test_connection", "_selected_action": [a.pk for a in agents]},
        follow=True,
    )


# --- Test connection ---------------------------------------------------------------------------


def test_action_reports_each_agent_with_its_latency(staff_client, server):
    server.queue(say("OK"))
    working = AgentFactory(name="Working", base_url=server.base_url, model_name="fake-model")
    unreachable = AgentFactory(name="Unreachable", base_url="http://127.0.0.1:9/v1")

    response = run_action(staff_client, [working, unreachable])

    assert response.status_code == 200
    # One message per agent, in name order.
    (error_level, error_text), (ok_level, ok_text) = shown_messages(response)
    assert ok_level == "success"
    assert ok_text.startswith("Working: connected in ")
    assert " ms. fake-model answered: OK" in ok_text
    assert error_level == "error"
    assert error_text.startswith("Unreachable: no answer after ")
    assert "Could not reach the model server at http://127.0.0.1:9/v1" in error_text
    # Each check is a model request, logged without a chat.
    logged = {call.agent.name: call for call in ModelCall.objects.select_related("agent")}
    assert logged["Working"].outcome == "ok" and logged["Working"].chat is None
    assert logged["Unreachable"].outcome == "error"
    assert logged["Unreachable"].error.startswith("Could not reach the model server")


def test_the_key_is_never_shown(staff_client, server, monkeypatch):
    monkeypatch.setenv("AGENT_KEY", SECRET)
    server.queue(HTTPError(401, f"Incorrect API key provided: {SECRET}"))
    agent = AgentFactory(provider="openai", base_url=server.base_url, api_key_env="AGENT_KEY")

    response = run_action(staff_client, [agent])

    [(level, text)] = shown_messages(response)
    assert level == "error"
    assert "rejected the API key from AGENT_KEY" in text
    assert SECRET not in response.content.decode()
    assert SECRET not in ModelCall.objects.get().error
    # The key did reach the provider, as it must.
    headers = {name.lower(): value for name, value in server.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {SECRET}"


def test_change_page_button_tests_and_comes_back(staff_client, server):
    server.queue(say("OK"))
    agent = AgentFactory(name="Analyst", base_url=server.base_url)

    page = staff_client.get(change_url(agent)).content.decode()
    assert f'action="{check_url(agent)}"' in page
    assert "Test connection" in page

    response = staff_client.post(check_url(agent))
    assert response.status_code == 302
    assert response.url == change_url(agent)
    page = staff_client.get(response.url)
    assert "Analyst: connected in" in page.content.decode()


def test_the_button_is_post_only(staff_client, server):
    agent = AgentFactory(base_url=server.base_url)
    assert staff_client.get(check_url(agent)).status_code == 404
    assert server.requests == []


def test_an_unknown_agent_is_a_404(staff_client):
    assert (
        staff_client.post(reverse("admin:llm_agent_agent_test", args=[999_999])).status_code == 404
    )


def test_non_staff_cannot_test(client, owner, server):
    agent = AgentFactory(base_url=server.base_url)
    client.force_login(owner)
    response = client.post(check_url(agent))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert server.requests == []


def test_staff_who_may_only_view_agents_cannot_test(client, server):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_agent"))
    agent = AgentFactory(base_url=server.base_url)
    client.force_login(viewer)

    assert client.post(check_url(agent)).status_code == 403
    page = client.get(change_url(agent)).content.decode()
    assert "Test connection" not in page
    listing = client.get(CHANGELIST).content.decode()
    assert 'value="test_connection"' not in listing
    assert server.requests == []


# --- Call totals per agent ---------------------------------------------------------------------


def log_call(agent: Agent, *, outcome="ok", latency_ms=100.0, tokens=(10, 4), chat=None):
    return ModelCall.objects.create(
        agent=agent,
        chat=chat,
        model_name=agent.model_name,
        provider=agent.provider,
        started_at=timezone.now() - timedelta(minutes=1),
        latency_ms=latency_ms,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        outcome=outcome,
        error="boom" if outcome == "error" else "",
    )


def test_changelist_and_change_page_show_call_totals(staff_client, owner):
    agent = AgentFactory(name="Analyst")
    chat = ChatFactory(agent=agent, owner=owner)
    log_call(agent, latency_ms=100, tokens=(1000, 200), chat=chat)
    log_call(agent, latency_ms=200, tokens=(2500, 300), chat=chat)
    log_call(agent, outcome="error", latency_ms=150, tokens=(0, 0))
    idle = AgentFactory(name="Idle")
    log_call(AgentFactory(name="Other"), latency_ms=9000)

    response = staff_client.get(CHANGELIST)

    html = response.content.decode()
    calls = reverse("admin:llm_agent_modelcall_changelist")
    assert f'<a href="{calls}?agent__id__exact={agent.pk}">3</a>' in html
    assert f'<a href="{calls}?agent__id__exact={agent.pk}&amp;outcome__exact=error">1</a>' in html
    assert "3,500 / 500" in html
    assert "150 ms" in html
    rows = {a.name: a for a in response.context["cl"].result_list}
    assert (rows["Idle"].call_count, rows["Idle"].mean_latency_ms) == (0, None)
    assert rows["Other"].mean_latency_ms == 9000

    page = staff_client.get(change_url(agent)).content.decode()
    assert "3,500 / 500" in page and "150 ms" in page
    assert f'<a href="{calls}?agent__id__exact={agent.pk}">3</a>' in page
    assert staff_client.get(change_url(idle)).status_code == 200


def test_agents_sort_by_their_call_count(staff_client):
    busy, quiet = AgentFactory(name="Busy"), AgentFactory(name="Quiet")
    for _ in range(3):
        log_call(busy)
    log_call(quiet)
    # The "model calls" column, descending.
    index = AgentAdmin.list_display.index("calls") + 1
    response = staff_client.get(CHANGELIST, {"o": f"-{index}"})
    assert [a.name for a in response.context["cl"].result_list][:2] == ["Busy", "Quiet"]


def test_totals_cost_no_query_per_agent(staff_client, assert_get_queries):
    def add_agents(count: int) -> None:
        for _ in range(count):
            agent = AgentFactory()
            log_call(agent)
            log_call(agent, outcome="error")

    add_agents(5)
    assert_get_queries(staff_client, CHANGELIST, most=8)
    add_agents(45)
    assert_get_queries(staff_client, CHANGELIST, most=8)
