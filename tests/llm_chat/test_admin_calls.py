"""The model-call log in the admin (read-only) and a message's artifact links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.llm_agent.models import ModelCall
from apps.llm_chat.models import Message
from tests.conftest import UserFactory
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

CALLS = reverse("admin:llm_agent_modelcall_changelist")


def call_url(call: ModelCall) -> str:
    return reverse("admin:llm_agent_modelcall_change", args=[call.pk])


def log_call(agent, *, chat=None, message=None, outcome="ok", days_ago=0, **fields) -> ModelCall:
    values = {
        "model_name": agent.model_name,
        "provider": agent.provider,
        "latency_ms": 812.4,
        "input_tokens": 1200,
        "output_tokens": 80,
        "tool_calls": [],
        "error": "The model server failed (HTTP 500)." if outcome == "error" else "",
        **fields,
    }
    return ModelCall.objects.create(
        agent=agent,
        chat=chat,
        message=message,
        outcome=outcome,
        started_at=timezone.now() - timedelta(days=days_ago),
        **values,
    )


def listed(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def test_changelist_shows_what_operators_need(staff_client, owner):
    agent = AgentFactory(name="Analyst", model_name="gpt-fake")
    chat = ChatFactory(agent=agent, owner=owner, title="Revenue questions")
    log_call(
        agent,
        chat=chat,
        tool_calls=[{"name": "list_tables", "args": {}}, {"name": "run_sql", "args": {}}],
    )
    log_call(agent, outcome="error")

    response = staff_client.get(CALLS)

    assert response.status_code == 200
    html = response.content.decode()
    chat_url = reverse("admin:llm_chat_chat_change", args=[chat.pk])
    assert f'<a href="{chat_url}">Revenue questions</a>' in html
    assert "Analyst" in html and "gpt-fake" in html
    assert "812 ms" in html
    assert '<td class="field-input_tokens">1200</td>' in html
    assert '<td class="field-output_tokens">80</td>' in html
    assert '<td class="field-tool_call_count">2</td>' in html
    assert ">OK</span>" in html and ">Error</span>" in html
    assert "— connection check" in html  # the call without a chat


def test_filters_search_and_date_hierarchy(staff_client, owner):
    analyst, other = AgentFactory(name="Analyst"), AgentFactory(name="Other")
    ok = log_call(analyst)
    failed = log_call(analyst, outcome="error", error="rate limited by the provider")
    old = log_call(other, days_ago=400)

    assert listed(staff_client.get(CALLS, {"outcome__exact": "error"})) == {failed.pk}
    assert listed(staff_client.get(CALLS, {"agent__id__exact": other.pk})) == {old.pk}
    assert listed(staff_client.get(CALLS, {"q": "rate limited"})) == {failed.pk}
    this_year = staff_client.get(CALLS, {"started_at__year": timezone.now().year})
    assert listed(this_year) == {ok.pk, failed.pk}


def test_a_call_is_read_only(staff_client, owner):
    agent = AgentFactory()
    chat = ChatFactory(agent=agent, owner=owner)
    message = MessageFactory(chat=chat, role="assistant")
    call = log_call(
        agent,
        chat=chat,
        message=message,
        outcome="error",
        tool_calls=[{"name": "run_sql", "args": {"sql": "SELECT '<b>'"}}],
    )

    page = staff_client.get(call_url(call))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "The model server failed (HTTP 500)." in html
    assert "&quot;run_sql&quot;" in html and "&#x27;&lt;b&gt;&#x27;" in html  # escaped JSON
    message_url = reverse("admin:llm_chat_message_change", args=[message.pk])
    assert f'<a href="{message_url}">#{message.pk}</a>' in html
    assert staff_client.get(reverse("admin:llm_agent_modelcall_add")).status_code == 403
    posted = staff_client.post(call_url(call), {"latency_ms": 1, "outcome": "ok"})
    assert posted.status_code == 403
    call.refresh_from_db()
    assert (call.latency_ms, call.outcome) == (812.4, "error")


def test_non_staff_is_sent_to_admin_login(client, owner):
    client.force_login(owner)
    response = client.get(CALLS)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_changelist_query_count_does_not_grow_with_rows(staff_client, owner, assert_get_queries):
    agents = AgentFactory.create_batch(3)
    chats = [ChatFactory(agent=agent, owner=owner) for agent in agents]

    def add_calls(count: int) -> None:
        for n in range(count):
            log_call(agents[n % 3], chat=chats[n % 3] if n % 2 else None)

    # Session, user, the page and its COUNT, the agent filter's choices, the provider and
    # model filters' distinct values, and the date hierarchy's range and days.
    add_calls(5)
    assert_get_queries(staff_client, CALLS, most=9)
    add_calls(45)
    assert_get_queries(staff_client, CALLS, most=9)


# --- A message's artifact links ------------------------------------------------------------


def test_message_page_lists_every_linked_artifact_read_only(staff_client, owner):
    chat = ChatFactory(owner=owner)
    message = MessageFactory(chat=chat, role="assistant", content="Two queries.")
    first = ArtifactFactory(owner=owner, chat=chat, title="First <query>")
    second = ArtifactFactory(owner=owner, chat=chat, title="Second query")
    message.link_artifact(first, Message.ArtifactAction.CREATED)
    message.link_artifact(second, Message.ArtifactAction.UPDATED)

    page = staff_client.get(reverse("admin:llm_chat_message_change", args=[message.pk]))

    html = page.content.decode()
    for artifact in (first, second):
        url = reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])
        assert f'<a href="{url}">' in html
    assert "First &lt;query&gt;" in html
    assert "Updated" in html
    # Read-only: no form fields for the links, and no room for new ones.
    assert 'name="artifact_links-0-artifact"' not in html
    assert 'name="artifact_links-MAX_NUM_FORMS" value="0"' in html


def test_message_page_query_count_does_not_grow_with_links(staff_client, owner, assert_get_queries):
    chat = ChatFactory(owner=owner)
    message = MessageFactory(chat=chat, role="assistant")
    url = reverse("admin:llm_chat_message_change", args=[message.pk])

    def link(count: int) -> None:
        for _ in range(count):
            message.link_artifact(ArtifactFactory(owner=owner, chat=chat), "created")

    link(2)
    assert_get_queries(staff_client, url, most=6)
    link(20)
    assert_get_queries(staff_client, url, most=6)


def test_view_only_staff_see_the_log(client):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelcall"))
    log_call(AgentFactory())
    client.force_login(viewer)
    assert client.get(CALLS).status_code == 200
