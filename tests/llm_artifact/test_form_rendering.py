"""Every form renders through one field template (apps.core.forms): Bootstrap classes from
the form's widgets, and errors wired to their input with aria-invalid and aria-describedby."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def input_tag(content: str, name: str) -> str:
    match = re.search(rf'<(?:input|select|textarea)[^>]*name="{name}"[^>]*>', content)
    assert match, f"no input {name}"
    return match.group(0)


def assert_error_wired(content: str, name: str, field_id: str) -> None:
    tag = input_tag(content, name)
    assert 'aria-invalid="true"' in tag
    assert f"{field_id}_error" in re.search(r'aria-describedby="([^"]*)"', tag).group(1)
    assert "is-invalid" in tag
    assert f'id="{field_id}_error"' in content


def test_edit_form_errors_are_wired_to_their_input(owner_client, owner):
    artifact = ArtifactFactory(owner=owner)
    response = owner_client.post(
        reverse("llm_artifact:artifact_edit", args=[artifact.pk]),
        {"title": "", "status": "active", "description": "", "comment": ""},
    )
    assert response.status_code == 422
    assert_error_wired(response.content.decode(), "title", "id_title")


def test_run_form_errors_and_help_are_wired_to_their_input(owner_client, owner):
    artifact = ArtifactFactory(
        owner=owner,
        sql_query="SELECT :n AS n",
        query_params=[{"name": "n", "type": "integer", "required": True}],
    )
    response = owner_client.post(
        reverse("llm_artifact:artifact_run", args=[artifact.pk]), {"n": "ten"}
    )
    content = response.content.decode()
    assert response.status_code == 422
    assert_error_wired(content, "n", "param-n")
    assert "param-n_helptext" in input_tag(content, "n")
    assert "<code>:n</code> · Whole number" in content
    assert '<span class="visually-hidden"> (required)</span>' in content


def test_chart_editor_is_the_forms_widget(owner_client, owner):
    artifact = ArtifactFactory(owner=owner, visualization_config={"mark": "bar", "data": 1})
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    tag = input_tag(content, "visualization_config")
    assert 'id="chart-spec"' in tag
    assert 'rows="16"' in tag
    assert 'class="form-control font-monospace chart-editor-text"' in tag
    assert 'aria-describedby="chart-editor-check"' in tag
    # The live check found problems: the editor says so too.
    assert 'aria-invalid="true"' in tag
    assert f'hx-post="{reverse("llm_artifact:artifact_chart", args=[artifact.pk])}"' in tag


def test_filter_form_widgets_come_from_the_form(owner_client, owner):
    content = owner_client.get(reverse("llm_artifact:artifact_list"), {"status": "x"}).content
    content = content.decode()
    search = input_tag(content, "q")
    assert 'placeholder="Title, description, comment or SQL"' in search
    assert 'hx-trigger="input changed delay:300ms, search"' in search
    assert 'class="form-select is-invalid"' in input_tag(content, "status")


def test_chat_create_form_uses_its_placeholder_and_wires_errors(owner_client):
    AgentFactory(is_active=True)
    response = owner_client.post(reverse("llm_chat:chat_create"), {"agent": "", "content": ""})
    content = response.content.decode()
    assert response.status_code == 422
    assert 'placeholder="Ask about the data…"' in input_tag(content, "content")
    assert_error_wired(content, "agent", "id_agent")
    assert "Choose the agent to talk to." in content


def test_chat_list_asks_for_the_agents_once(owner_client, django_assert_max_num_queries):
    AgentFactory(is_active=True, name="Analyst")
    with django_assert_max_num_queries(10) as captured:
        content = owner_client.get(reverse("llm_chat:chat_list")).content.decode()
    assert ">Analyst</option>" in content
    agent_queries = [q for q in captured.captured_queries if "llm_agent_agent" in q["sql"]]
    assert len(agent_queries) == 1
