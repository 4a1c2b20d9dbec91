"""The agent turn against real HTTP servers on loopback, through the real provider SDKs.

Each test starts a scripted server speaking OpenAI's Chat Completions or Anthropic's Messages
wire format (streamed tool-call deltas included) and points an Agent row at it, so the whole
stack runs: build_model -> pydantic-ai -> openai/anthropic SDK -> HTTP -> our tools -> the DB.
"""

from __future__ import annotations

import json

import pytest

from apps.llm_agent.models import ModelCall
from apps.llm_agent.providers import PUBLIC_BROKE_OFF, PUBLIC_PROVIDER_FAILED, PUBLIC_TIMEOUT
from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import TextDelta, run_turn_sync
from apps.llm_chat.models import Message
from apps.llm_chat.services import post_user_message
from tests.fakes.datasource import build_shop
from tests.fakes.llm_server import Cut, FakeLLMServer, HTTPError, Stall, Step, call, say
from tests.llm_chat.factories import ChatFactory

TOP_SQL = (
    "SELECT c.name, SUM(o.total) AS revenue FROM orders o "
    "JOIN categories c ON c.id = o.category_id GROUP BY c.name ORDER BY revenue DESC LIMIT 5"
)
KEY = "sk-test-not-a-real-key-123"

# (provider on the Agent row, wire format the server speaks)
PROVIDERS = {
    "openai_compatible": "openai",
    "openai": "openai",
    "anthropic": "anthropic",
}


@pytest.fixture
def shop(tmp_path, settings):
    path = build_shop(tmp_path / "shop.sqlite3")
    settings.DATA_SOURCES = f"marketplace=sqlite:///{path}"
    # Fast failures: one SDK retry at most, and a short wait for a silent server.
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 5
    return path


@pytest.fixture(params=list(PROVIDERS))
def provider(request):
    return request.param


@pytest.fixture
def server(provider):
    with FakeLLMServer(PROVIDERS[provider]) as server:
        yield server


@pytest.fixture
def chat(owner, shop, server, provider, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", KEY)
    chat = ChatFactory(owner=owner)
    agent = chat.agent
    agent.provider = provider
    agent.base_url = server.base_url
    agent.model_name = "claude-fake" if provider == "anthropic" else "gpt-fake"
    agent.api_key_env = "" if provider == "openai_compatible" else "FAKE_LLM_KEY"
    agent.full_clean()
    agent.save()
    return chat


def ask(chat, content: str = "What are the top categories by revenue?"):
    user_message = post_user_message(chat, content=content)
    return run_turn_sync(chat, user_message)


def sent_json(request: dict) -> str:
    return json.dumps(request["json"])


def test_question_tools_artifact_answer(chat, server, provider):
    server.queue(
        call("list_tables", {}),
        call("run_sql", {"sql": TOP_SQL}),
        call(
            "save_artifact",
            {
                "title": "Top categories by revenue",
                "sql": TOP_SQL,
                "description": "Revenue per category, top 5.",
                "params": [],
                "visualization": {
                    "data": {"name": "results"},
                    "mark": "bar",
                    "encoding": {
                        "x": {"field": "name", "type": "nominal"},
                        "y": {"field": "revenue", "type": "quantitative"},
                    },
                },
            },
        ),
        say("**Games** ", "lead with ", "105.0."),
    )
    outcome = ask(chat)

    reply = outcome.reply
    assert reply.status == Message.Status.COMPLETE, reply.error
    assert reply.content == "**Games** lead with 105.0."
    assert [e.text for e in outcome.events if isinstance(e, TextDelta)] == [
        "**Games** ",
        "lead with ",
        "105.0.",
    ]
    artifact = Artifact.objects.get()
    assert (reply.artifact, reply.artifact_action) == (artifact, "created")
    assert artifact.visualization_config["mark"] == "bar"
    assert artifact.chat == chat and artifact.owner == chat.owner

    # The requests the SDK really sent: streamed, our tools declared, results fed back.
    assert len(server.requests) == 4
    first, second, third, _ = server.requests
    assert first["json"]["stream"] is True
    assert first["json"]["model"] == chat.agent.model_name
    declared = sent_json(first)
    for tool in ["list_tables", "describe_table", "run_sql", "save_artifact", "update_artifact"]:
        assert tool in declared
    assert "categories(id integer" in sent_json(second).lower()
    assert "Games | 105" in sent_json(third)
    headers = {k.lower(): v for k, v in first["headers"].items()}
    if provider != "openai_compatible":
        # The key from the environment variable the agent names, as the SDK sends it.
        assert KEY in (headers.get("x-api-key"), headers.get("authorization", "")[7:])

    calls = list(ModelCall.objects.filter(message=reply).order_by("started_at"))
    assert [c.outcome for c in calls] == ["ok"] * 4
    assert all(c.input_tokens == 20 and c.output_tokens == 10 for c in calls)
    assert (reply.input_tokens, reply.output_tokens) == (80, 40)
    assert calls[2].tool_calls[0]["name"] == "save_artifact"


def test_history_reaches_the_provider_on_the_next_turn(chat, server):
    server.queue(say("There are 5 orders."), say("Still 5."))
    ask(chat, "How many orders?")
    ask(chat, "And now?")
    body = sent_json(server.requests[1])
    assert "How many orders?" in body and "There are 5 orders." in body and "And now?" in body


def assert_failed_with(outcome, public: str, detail: str) -> None:
    """The user reads `public` and the failed call's number; the call's row holds `detail`."""
    reply = Message.objects.get(pk=outcome.reply.pk)
    assert reply.status == Message.Status.ERROR
    user_message = Message.objects.get(pk=outcome.user_message.pk)
    assert user_message.content == "What are the top categories by revenue?"
    call = ModelCall.objects.filter(message=reply, outcome="error").last()
    assert reply.error == f"{public} (Reference: model call {call.pk}.)"
    assert detail in call.error, call.error
    assert KEY not in reply.error and KEY not in call.error


def test_server_error_is_reported(chat, server):
    server.queue(HTTPError(500), HTTPError(500))  # the SDK retries once, then gives up
    outcome = ask(chat)
    assert_failed_with(
        outcome, PUBLIC_PROVIDER_FAILED, f"The model server at {server.base_url} failed (HTTP 500)"
    )
    assert len(server.requests) == 2


def test_rate_limit_is_retried_by_the_sdk(chat, server):
    server.queue(HTTPError(429, "slow down", headers={"retry-after-ms": "10"}), say("Fine."))
    outcome = ask(chat)
    assert outcome.reply.status == Message.Status.COMPLETE
    assert outcome.reply.content == "Fine."
    assert len(server.requests) == 2


def test_timeout_is_reported(chat, server, settings):
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 0.3
    settings.LLM_MAX_RETRIES = 0
    server.queue(Stall(10))
    outcome = ask(chat)
    assert_failed_with(outcome, PUBLIC_TIMEOUT, "did not answer in time")


def test_malformed_tool_arguments_end_in_a_clear_error(chat, server):
    broken = call("run_sql", ['{"sql": "SELECT * FROM'])
    server.queue(broken, broken, broken)  # the model never fixes them
    outcome = ask(chat)
    words = (
        "The model kept sending arguments for the tool run_sql that could not be used, even "
        "after being told what was wrong."
    )
    assert_failed_with(outcome, words, words)


def test_malformed_tool_arguments_once_are_corrected(chat, server):
    server.queue(
        call("run_sql", ['{"sql": "SELECT * FROM']),
        call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"}),
        say("5 orders."),
    )
    outcome = ask(chat)
    assert outcome.reply.status == Message.Status.COMPLETE
    assert "Invalid JSON" in sent_json(server.requests[1])


def test_stream_cut_midway_keeps_what_arrived(chat, server):
    server.queue(Cut(say("The top ", "category ", "is Games."), after=2))
    outcome = ask(chat)
    assert_failed_with(outcome, PUBLIC_BROKE_OFF, "broke off during the reply")
    assert Message.objects.get(pk=outcome.reply.pk).content == "The top category "


def test_tool_call_then_cut_keeps_the_artifact(chat, server):
    server.queue(
        call("save_artifact", {"title": "All orders", "sql": "SELECT * FROM orders"}),
        Cut(Step(text=["Saved ", "it"]), after=1),
    )
    outcome = ask(chat)
    reply = Message.objects.get(pk=outcome.reply.pk)
    assert reply.status == Message.Status.ERROR
    assert reply.content == "Saved "
    assert reply.artifact.title == "All orders"  # the card is not lost with the reply
