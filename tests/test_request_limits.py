"""Requests past the limits, and values of the wrong type: API clients get JSON saying
which limit or field was wrong, people a readable page, and nothing is written."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.models import Chat, Message
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

ARTIFACTS = reverse("api:artifact-list")


def too_many_fields(count: int = 1001) -> dict[str, str]:
    return {f"field{i}": "x" for i in range(count)}


# --- big bodies ------------------------------------------------------------------------------


def test_a_5_mb_json_body_is_a_413_naming_the_limit(owner_api):
    body = json.dumps({"title": "x" * (5 * 1024 * 1024), "sql_query": "SELECT 1"})
    response = owner_api.post(ARTIFACTS, body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "The request body is too large: at most 2.5 MB is accepted."
    }
    assert not Artifact.objects.exists()


def test_the_size_limit_follows_the_setting(owner_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    small = json.dumps({"title": "t", "sql_query": "SELECT 1"})
    assert owner_api.post(ARTIFACTS, small, content_type="application/json").status_code == 201
    big = json.dumps({"title": "t", "sql_query": "SELECT 1", "description": "d" * 1000})
    response = owner_api.post(ARTIFACTS, big, content_type="application/json")
    assert response.status_code == 413
    assert "at most 1000" in response.json()["detail"]
    assert Artifact.objects.count() == 1


def test_too_many_form_fields_to_the_api_is_a_json_400(owner_api):
    response = owner_api.post(ARTIFACTS, too_many_fields())
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request has too many fields: at most 1,000 are accepted."
    }
    assert not Artifact.objects.exists()


def test_too_many_query_parameters_is_a_json_400_before_an_export_runs(owner_api, owner):
    artifact = ArtifactFactory(owner=owner)
    url = reverse("api:artifact-export", args=[artifact.pk])
    response = owner_api.get(url + "?" + "&".join(f"p{i}=1" for i in range(1001)))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The request has too many fields")
    assert not ArtifactRun.objects.exists()


def test_a_page_gets_a_readable_400_page(owner_client, owner):
    artifact = ArtifactFactory(owner=owner)
    url = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    response = owner_client.post(url, too_many_fields())
    assert response.status_code == 400
    content = response.content.decode()
    assert "<html" in content and "The request was refused" in content
    assert "too many fields: at most 1,000" in content
    assert not ArtifactRun.objects.exists()


def test_a_page_with_a_body_too_big_gets_a_readable_413_page(owner_client, owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    artifact = ArtifactFactory(owner=owner)
    url = reverse("llm_artifact:artifact_run", args=[artifact.pk])
    response = owner_client.post(url, {"q": "x" * 2000})
    assert response.status_code == 413
    assert "The request body is too large: at most 1000" in response.content.decode()
    assert not ArtifactRun.objects.exists()


# --- wrong types -----------------------------------------------------------------------------


def valid(**overrides) -> dict:
    return {"title": "Orders", "sql_query": "SELECT 1 AS one", **overrides}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("title", 123, "Not a valid string: got the number 123."),
        ("title", True, "Not a valid string: got true."),
        ("description", ["a"], "Not a valid string: got a list."),
        ("sql_query", {"a": 1}, "Not a valid string: got an object."),
        ("agent", 1.5, "A valid integer is required: got the number 1.5."),
        ("agent", 1.0, "A valid integer is required: got the number 1.0."),
        ("agent", True, "A valid integer is required: got true."),
        ("chat", "one", "A valid integer is required: got text."),
    ],
)
def test_the_api_refuses_values_of_the_wrong_type(owner_api, owner, field, value, words):
    # Id 1, so 1.0 and true would name it if they were read as whole numbers (set, not
    # assumed: PostgreSQL does not restart its sequences between tests).
    AgentFactory(pk=1)
    response = owner_api.post(ARTIFACTS, valid(**{field: value}), format="json")
    assert response.status_code == 400
    assert response.json() == {field: [words]}
    assert not Artifact.objects.exists()

    artifact = ArtifactFactory(owner=owner, title="Kept")
    url = reverse("api:artifact-detail", args=[artifact.pk])
    assert owner_api.patch(url, {field: value}, format="json").status_code == 400
    artifact.refresh_from_db()
    assert (artifact.title, artifact.agent_id, artifact.chat_id) == ("Kept", None, None)


def test_whole_numbers_as_text_still_work_for_forms(owner_api, owner):
    agent = AgentFactory()
    response = owner_api.post(ARTIFACTS, valid(agent=str(agent.pk)))  # multipart form
    assert response.status_code == 201
    assert Artifact.objects.get().agent == agent


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("is_active", 1, "Must be a valid boolean (true or false): got the number 1."),
        ("is_active", "maybe", "Must be a valid boolean (true or false): got text."),
        ("temperature", True, "A valid number is required: got true."),
        ("temperature", "warm", "A valid number is required: got text."),
        ("max_output_tokens", 100.5, "A valid integer is required: got the number 100.5."),
        ("name", 7, "Not a valid string: got the number 7."),
    ],
)
def test_agent_fields_are_strict_too(staff_api, field, value, words):
    payload = {"name": "Analyst", "provider": "openai", "model_name": "m", field: value}
    response = staff_api.post(reverse("api:agent-list"), payload, format="json")
    assert response.status_code == 400
    assert response.json()[field] == [words]
    assert not Agent.objects.exists()


def test_sql_validate_refuses_a_number_for_sql(owner_api):
    response = owner_api.post(reverse("api:sql-validate"), {"sql": 1}, format="json")
    assert response.status_code == 400
    assert response.json() == {"sql": ["Not a valid string: got the number 1."]}


@pytest.mark.parametrize("content", [123, 1.5, True, ["hi"], {"text": "hi"}])
def test_a_message_must_be_text(owner_api, owner, content):
    chat = ChatFactory(owner=owner)
    url = reverse("api:chat-messages", args=[chat.pk])
    response = owner_api.post(url, {"content": content}, format="json")
    assert response.status_code == 400
    assert response.json()["content"][0].startswith("Not a valid string: got")
    assert not Message.objects.filter(chat=chat).exists()


@pytest.mark.parametrize(("field", "value"), [("title", 5), ("agent", 1.5), ("agent", "1.0")])
def test_a_chat_refuses_wrong_types(owner_api, field, value):
    agent = AgentFactory()
    payload = {"title": "Sales", "agent": agent.pk, field: value}
    response = owner_api.post(reverse("api:chat-list"), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Chat.objects.exists()
