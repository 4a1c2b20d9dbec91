"""The agent learns from the library: verified examples in its instructions, a ranked
search_artifacts that marks verified ones, and a run card for a question an artifact answers.

Against the fake OpenAI-compatible server on loopback: what the provider receives is what
the real SDK sent.
"""

from __future__ import annotations

import json

import pytest

from apps.llm_agent.models import ModelCall
from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.agent.library import relevant_artifacts, verified_examples
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.fakes.llm_server import call, say
from tests.llm_artifact.factories import ArtifactFactory

REVENUE_SQL = (
    "SELECT c.name AS category, SUM(o.total) AS revenue FROM orders o "
    "JOIN categories c ON c.id = o.category_id GROUP BY c.name"
)
STATUS_SQL = "SELECT COUNT(*) AS orders FROM orders WHERE status = :status"
STATUS_PARAMS = [{"name": "status", "type": "string", "label": "Status", "default": "paid"}]


def ask(chat, content: str, **kwargs):
    return run_turn_sync(chat, post_user_message(chat, content=content), **kwargs)


def system_text(request: dict) -> str:
    return "\n".join(
        m["content"] for m in request["json"]["messages"] if m["role"] in ("system", "developer")
    )


def declared_tools(request: dict) -> set[str]:
    return {tool["function"]["name"] for tool in request["json"].get("tools", [])}


@pytest.fixture
def library(owner, other_user):
    """Verified and unverified artifacts, some out of the owner's sight."""
    revenue = ArtifactFactory(
        owner=owner, title="Revenue by category", sql_query=REVENUE_SQL, description=""
    )
    revenue.verify(owner, question="What is the revenue of each category?")
    unverified = ArtifactFactory(
        owner=owner,
        title="Revenue by category, draft",
        sql_query="SELECT 'draft revenue' AS category",
    )
    hidden = ArtifactFactory(
        owner=other_user,
        title="Revenue per category (private)",
        sql_query="SELECT 'someone else''s revenue' AS category",
    )
    hidden.verify(other_user, question="What is the revenue per category?")
    elsewhere = ArtifactFactory(
        owner=owner,
        title="Revenue by category elsewhere",
        sql_query="SELECT 'other source revenue' AS category",
        data_source="internal",
    )
    Artifact.objects.filter(pk=elsewhere.pk).update(verified_at=revenue.verified_at)
    return {"revenue": revenue, "unverified": unverified, "hidden": hidden}


def test_the_verified_examples_are_in_the_request_the_provider_receives(chat, server, library):
    server.queue(say("Books lead."))
    outcome = ask(chat, "What was the revenue by category?")

    assert outcome.reply.status == Message.Status.COMPLETE, outcome.reply.error
    instructions = system_text(server.requests[0])
    assert REVENUE_SQL in instructions
    assert "What is the revenue of each category?" in instructions
    assert f"Artifact #{library['revenue'].pk}" in instructions
    # Only verified artifacts the chat's owner may see, on the agent's data source.
    assert "draft revenue" not in instructions
    assert "someone else" not in instructions
    assert "other source revenue" not in instructions
    # The model-call log says which ones the model was given.
    logged = ModelCall.objects.get(message=outcome.reply)
    assert logged.library_examples == [
        {"id": library["revenue"].pk, "title": "Revenue by category"}
    ]


def test_no_examples_when_nothing_verified_matches(chat, server, library):
    server.queue(say("There are three."))
    ask(chat, "How many distinct statuses exist?")

    assert "Verified queries" not in system_text(server.requests[0])
    assert ModelCall.objects.get().library_examples == []


def test_a_question_answered_by_an_existing_artifact_produces_a_run_card(chat, server, owner):
    status = ArtifactFactory(
        owner=owner,
        title="Orders in a status",
        sql_query=STATUS_SQL,
        query_params=STATUS_PARAMS,
        description="How many orders are in the given status.",
    )
    status.verify(owner, question="How many orders are in a given status?")
    server.queue(
        call("search_artifacts", {"query": "orders cancelled status"}),
        call("run_artifact", {"artifact_id": status.pk, "params": {"status": "cancelled"}}),
        say("1 order was cancelled."),
    )
    outcome = ask(chat, "How many orders were cancelled?")

    reply = outcome.reply
    assert reply.status == Message.Status.COMPLETE, reply.error
    # No new artifact: the existing one ran, and its card carries the values it ran with.
    assert list(Artifact.objects.all()) == [status]
    assert (reply.artifact, reply.artifact_action) == (status, Message.ArtifactAction.EXECUTED)
    assert reply.artifact_links.get().params == {"status": "cancelled"}
    assert status.runs.get().row_count == 1
    # search_artifacts marked it verified and said which question it answers.
    found = json.dumps(server.requests[1]["json"])
    assert f"#{status.pk} Orders in a status [verified]" in found
    assert "Answers: How many orders are in a given status?" in found
    assert "run_artifact" in json.dumps(server.requests[0]["json"]["tools"])


def test_without_the_library_there_are_no_examples_nor_library_tools(chat, server, library):
    server.queue(say("Books lead."))
    ask(chat, "What was the revenue by category?", library=False)

    request = server.requests[0]
    assert REVENUE_SQL not in system_text(request)
    # Nor do the instructions name tools the turn does not have.
    assert "search_artifacts" not in system_text(request)
    assert "run_artifact" not in system_text(request)
    assert "run_sql" in declared_tools(request)
    assert not declared_tools(request) & {"search_artifacts", "run_artifact"}


def test_search_ranks_verified_and_title_matches_first(owner, other_user, db):
    draft = ArtifactFactory(owner=owner, title="Orders by day", description="revenue per day")
    verified = ArtifactFactory(owner=owner, title="Revenue per day", description="")
    verified.verify(owner, question="What is the revenue per day?")
    ArtifactFactory(owner=owner, title="Customers by country", description="")
    ArtifactFactory(owner=other_user, title="Revenue per day (private)")

    found = relevant_artifacts(owner, "marketplace", "What was our revenue per day?", limit=5)

    assert found == [verified, draft]
    assert verified_examples(owner, "marketplace", "revenue per day") == [verified]
    assert verified_examples(other_user, "marketplace", "revenue per day") == []
