"""Asking the agent through the API: POST a message, get the turn back as JSON or as events.

The agent row points at a loopback fake provider (tests/fakes/llm_server.py), so the turn runs
through the real stack; the API has no test-only path.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.llm_agent.models import ModelCall
from apps.llm_agent.providers import PUBLIC_PROVIDER_FAILED, PUBLIC_UNREACHABLE
from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.fakes.llm_server import HTTPError, Step, ToolCall, call, say
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

TOP_SQL = (
    "SELECT c.name, SUM(o.total) AS revenue FROM orders o "
    "JOIN categories c ON c.id = o.category_id GROUP BY c.name"
)


def messages_url(chat) -> str:
    return reverse("api:chat-messages", args=[chat.pk])


def retry_url(chat, message) -> str:
    return reverse("api:chat-retry", args=[chat.pk, message.pk])


def parse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def stream(user, url: str, payload: dict | None = None):
    """POST with Accept: text/event-stream through the ASGI-style client, token-authenticated."""
    token = ApiToken.objects.create(user=user)[1]

    async def go():
        response = await AsyncClient().post(
            url,
            payload or {},
            content_type="application/json",
            headers={"Accept": "text/event-stream", "Authorization": f"Token {token}"},
        )
        if not response.streaming:
            return response, response.content.decode()
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response, body.decode()

    return async_to_sync(go)()


# --- POST runs the turn ------------------------------------------------------------------------


def test_post_runs_the_turn_and_returns_both_messages_with_every_artifact(owner_api, chat, server):
    server.queue(
        call("run_sql", {"sql": TOP_SQL}),
        Step(
            tool_calls=[
                ToolCall("save_artifact", {"title": "Revenue by category", "sql": TOP_SQL}),
                ToolCall("save_artifact", {"title": "Orders", "sql": "SELECT * FROM orders"}),
            ]
        ),
        say("Saved **two** queries."),
    )

    response = owner_api.post(messages_url(chat), {"content": "Revenue?"}, format="json")

    assert response.status_code == 201, response.json()
    question, reply = response.json()
    assert (question["role"], question["content"]) == ("user", "Revenue?")
    assert reply["role"] == "assistant" and reply["status"] == "complete"
    assert reply["content"] == "Saved **two** queries."
    assert reply["reply_to"] == question["id"] and reply["error"] == ""
    assert reply["input_tokens"] == 60 and reply["output_tokens"] == 30
    first, second = Artifact.objects.order_by("pk")
    assert reply["artifact"]["id"] == first.pk and reply["artifact_action"] == "created"
    assert [(a["action"], a["artifact"]["title"]) for a in reply["artifacts"]] == [
        ("created", "Revenue by category"),
        ("created", "Orders"),
    ]
    assert reply["artifacts"][1]["artifact"]["url"].endswith(f"/api/artifacts/{second.pk}/")
    assert Message.objects.filter(chat=chat).count() == 2


def test_a_provider_failure_is_still_201_with_the_reply_in_error(owner_api, chat, server):
    server.queue(HTTPError(500, "boom"))

    response = owner_api.post(messages_url(chat), {"content": "Revenue?"}, format="json")

    assert response.status_code == 201
    question, reply = response.json()
    assert question["content"] == "Revenue?"
    assert reply["status"] == "error"
    call = ModelCall.objects.get(message_id=reply["id"])
    assert reply["error"] == f"{PUBLIC_PROVIDER_FAILED} (Reference: model call {call.pk}.)"
    assert f"The model server at {server.base_url} failed (HTTP 500)" in call.error
    assert Message.objects.get(pk=question["id"]).content == "Revenue?"


def test_no_provider_reachable_tells_the_user_to_ask_an_operator(owner_api, owner, shop):
    chat = ChatFactory(owner=owner)  # its agent points at 127.0.0.1:9: nothing answers

    response = owner_api.post(messages_url(chat), {"content": "Revenue?"}, format="json")

    question, reply = response.json()
    assert response.status_code == 201
    assert reply["status"] == "error"
    call = ModelCall.objects.get(message_id=reply["id"])
    assert reply["error"] == f"{PUBLIC_UNREACHABLE} (Reference: model call {call.pk}.)"
    assert "Could not reach the model server at http://127.0.0.1:9/v1" in call.error
    assert Message.objects.filter(pk=question["id"]).exists()


def test_post_streams_the_turn_as_server_sent_events(owner, chat, server):
    server.queue(
        call("save_artifact", {"title": "Revenue by category", "sql": TOP_SQL}),
        say("Games ", "lead."),
    )

    response, body = stream(owner, messages_url(chat), {"content": "Revenue?"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    events = parse_events(body)
    question = Message.objects.get(role="user")
    reply = Message.objects.get(role="assistant")
    artifact = Artifact.objects.get()
    # The same events as the agent core's, nothing added (no HTML: that is the page's).
    assert events == [
        ("start", {"type": "start", "user_message_id": question.pk, "message_id": reply.pk}),
        (
            "tool",
            {
                "type": "tool",
                "call_id": events[1][1]["call_id"],
                "tool": "save_artifact",
                "label": "Saving artifact “Revenue by category”",
                "state": "started",
            },
        ),
        (
            "tool",
            {
                "type": "tool",
                "call_id": events[1][1]["call_id"],
                "tool": "save_artifact",
                "label": "Saved artifact “Revenue by category”",
                "state": "done",
            },
        ),
        (
            "artifact",
            {
                "type": "artifact",
                "artifact_id": artifact.pk,
                "action": "created",
                "title": "Revenue by category",
            },
        ),
        ("text", {"type": "text", "text": "Games "}),
        ("text", {"type": "text", "text": "lead."}),
        ("done", {"type": "done", "message_id": reply.pk, "input_tokens": 40, "output_tokens": 20}),
    ]
    assert reply.status == "complete" and reply.content == "Games lead."


def test_a_streamed_post_with_a_bad_body_is_a_json_400(owner, chat, server):
    response, body = stream(owner, messages_url(chat), {"content": "  "})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "content" in json.loads(body)
    assert not Message.objects.exists()


# --- Retry ---------------------------------------------------------------------------------


def failed_turn(chat):
    question = post_user_message(chat, content="Revenue?")
    reply = MessageFactory(
        chat=chat,
        role="assistant",
        status="error",
        error="Down.",
        content="Part",
        reply_to=question,
    )
    return question, reply


@pytest.mark.parametrize("by", ["reply", "question"])
def test_retry_reuses_the_failed_reply(owner_api, chat, server, by):
    question, reply = failed_turn(chat)
    server.queue(say("Games lead."))

    target = reply if by == "reply" else question
    response = owner_api.post(retry_url(chat, target))

    assert response.status_code == 200, response.json()
    body_question, body_reply = response.json()
    assert (body_question["id"], body_reply["id"]) == (question.pk, reply.pk)
    assert (body_reply["status"], body_reply["content"], body_reply["error"]) == (
        "complete",
        "Games lead.",
        "",
    )
    assert Message.objects.filter(role="assistant").count() == 1


def test_retry_streams_into_the_same_reply(owner, chat, server):
    _, reply = failed_turn(chat)
    server.queue(say("Games lead."))

    response, body = stream(owner, retry_url(chat, reply))

    assert response.status_code == 200
    events = parse_events(body)
    assert events[0][1]["message_id"] == reply.pk and events[-1][0] == "done"
    reply.refresh_from_db()
    assert reply.status == "complete"


def test_retrying_a_complete_reply_is_a_409(owner_api, owner, chat, server):
    question = post_user_message(chat, content="Revenue?")
    reply = MessageFactory(chat=chat, role="assistant", content="Done.", reply_to=question)

    plain = owner_api.post(retry_url(chat, reply))
    streamed, body = stream(owner, retry_url(chat, reply))

    assert plain.status_code == 409
    assert plain.json() == {"detail": "This message already has a reply."}
    assert streamed.status_code == 409
    assert json.loads(body) == {"detail": "This message already has a reply."}
    assert server.requests == []


def test_a_reply_being_written_cannot_be_retried(owner_api, chat, server):
    question = post_user_message(chat, content="Revenue?")
    MessageFactory(chat=chat, role="assistant", status="pending", reply_to=question)
    response = owner_api.post(retry_url(chat, question))
    assert response.status_code == 409
    assert response.json() == {"detail": "This message is being answered."}


def test_a_reply_without_its_question_cannot_be_retried(owner_api, chat, server):
    orphan = MessageFactory(chat=chat, role="assistant", status="error", error="Down.")
    response = owner_api.post(retry_url(chat, orphan))
    assert response.status_code == 409
    assert "does not name its question" in response.json()["detail"]


def test_retry_of_a_message_of_another_chat_is_a_404(owner_api, owner, chat, server):
    _, reply = failed_turn(ChatFactory(owner=owner))
    assert owner_api.post(retry_url(chat, reply)).status_code == 404


def test_other_user_gets_404_and_nothing_runs(other_api, chat, server):
    _, reply = failed_turn(chat)
    assert other_api.post(retry_url(chat, reply)).status_code == 404
    assert other_api.post(messages_url(chat), {"content": "Hi"}, format="json").status_code == 404
    assert server.requests == []
    reply.refresh_from_db()
    assert reply.status == "error"


def test_staff_cannot_retry_in_someone_elses_chat(staff_api, chat, server):
    _, reply = failed_turn(chat)
    response = staff_api.post(retry_url(chat, reply))
    assert response.status_code == 403
    assert server.requests == []


def test_anonymous_is_refused_retry(api_client, chat, server):
    _, reply = failed_turn(chat)
    assert api_client.post(retry_url(chat, reply)).status_code == 401
