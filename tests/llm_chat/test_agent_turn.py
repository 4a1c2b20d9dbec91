"""The agent turn driven by a scripted pydantic-ai FunctionModel: tools, artifacts, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from apps.datasources import schema
from apps.datasources.sources import UnknownDataSource
from apps.llm_agent.models import Agent, ModelCall
from apps.llm_agent.providers import PUBLIC_NOT_SET_UP, PUBLIC_UNREACHABLE
from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import (
    ArtifactSaved,
    TextDelta,
    ToolActivity,
    TurnDone,
    TurnFailed,
    TurnRefused,
    TurnStarted,
    retry_turn_sync,
    run_turn,
    run_turn_sync,
    runner,
)
from apps.llm_chat.agent import reply as reply_module
from apps.llm_chat.agent.runner import INTERRUPTED
from apps.llm_chat.models import STALE_PENDING_AFTER, Message, MessageArtifact
from apps.llm_chat.services import post_user_message
from tests.fakes.datasource import order_count
from tests.fakes.scripted import Call, Raise, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

TOP_SQL = (
    "SELECT c.name, SUM(o.total) AS revenue FROM orders o "
    "JOIN categories c ON c.id = o.category_id GROUP BY c.name ORDER BY revenue DESC"
)


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


def ask(chat, content: str, script: ScriptedModel):
    user_message = post_user_message(chat, content=content)
    return run_turn_sync(chat, user_message, model=script.model)


def activities(outcome) -> list[tuple[str, str]]:
    return [(e.label, e.state) for e in outcome.events if isinstance(e, ToolActivity)]


def test_question_to_linked_artifact(chat, owner):
    def answer(messages):
        assert "Games | 105" in tool_text(messages)  # the model sees the rows
        return Call(
            "save_artifact",
            {
                "title": "Revenue by category",
                "sql": TOP_SQL,
                "description": "Revenue per category, largest first.",
                "visualization": {},
            },
        )

    script = ScriptedModel(
        Call("list_tables", {}),
        Call("run_sql", {"sql": TOP_SQL}),
        answer,
        Say("Games ", "lead with ", "105."),
    )
    outcome = ask(chat, "Which category earns most?", script)

    reply = outcome.reply
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == "Games lead with 105."
    assert reply.reply_to == outcome.user_message
    artifact = Artifact.objects.get()
    assert (artifact.owner, artifact.chat, artifact.agent) == (owner, chat, chat.agent)
    assert artifact.data_source == "marketplace"
    assert artifact.sql_query == TOP_SQL
    assert reply.artifact == artifact
    assert reply.artifact_action == Message.ArtifactAction.CREATED
    link = MessageArtifact.objects.get()
    assert (link.message, link.artifact, link.action) == (reply, artifact, "created")
    assert ArtifactSaved(artifact.pk, "created", "Revenue by category") in outcome.events
    assert activities(outcome) == [
        ("Listing tables", "started"),
        ("Listing tables", "done"),
        ("Running SQL", "started"),
        ("Ran SQL (3 rows)", "done"),
        ("Saving artifact “Revenue by category”", "started"),
        ("Saved artifact “Revenue by category”", "done"),
    ]
    assert "".join(e.text for e in outcome.events if isinstance(e, TextDelta)) == reply.content
    assert isinstance(outcome.events[0], TurnStarted)
    assert isinstance(outcome.events[-1], TurnDone)
    # The turn's provider messages are stored for replay, with tokens and a call log.
    assert len(reply.model_messages) == 8
    assert reply.input_tokens > 0 and reply.output_tokens > 0
    calls = ModelCall.objects.filter(message=reply).order_by("started_at")
    assert [c.outcome for c in calls] == ["ok"] * 4
    assert [c.tool_calls[0]["name"] for c in calls[:3]] == [
        "list_tables",
        "run_sql",
        "save_artifact",
    ]
    assert calls[1].tool_calls[0]["args"] == {"sql": TOP_SQL}
    assert sum(c.input_tokens for c in calls) == reply.input_tokens


def test_one_message_can_create_several_artifacts(chat):
    script = ScriptedModel(
        [
            Call("save_artifact", {"title": "Orders", "sql": "SELECT * FROM orders"}),
            Call("save_artifact", {"title": "Categories", "sql": "SELECT * FROM categories"}),
        ],
        Say("Saved both."),
    )
    reply = ask(chat, "Save orders and categories", script).reply
    first, second = Artifact.objects.order_by("pk")
    assert reply.artifact == first
    assert [link.artifact for link in reply.artifact_links.order_by("pk")] == [first, second]


def test_update_applies_to_an_artifact_of_the_same_chat(chat):
    artifact = ArtifactFactory(owner=chat.owner, chat=chat, title="Orders", sql_query="SELECT 1")
    script = ScriptedModel(
        Call(
            "update_artifact",
            {"artifact_id": artifact.pk, "title": "Delivered orders", "sql": TOP_SQL},
        ),
        Say("Updated."),
    )
    outcome = ask(chat, "Only delivered ones", script)

    artifact.refresh_from_db()
    assert (artifact.title, artifact.sql_query) == ("Delivered orders", TOP_SQL)
    reply = outcome.reply
    assert (reply.artifact, reply.artifact_action) == (artifact, "updated")
    assert MessageArtifact.objects.get(message=reply).action == "updated"
    assert ArtifactSaved(artifact.pk, "updated", "Delivered orders") in outcome.events


def test_update_of_another_chats_artifact_is_refused(chat):
    other_chat = ChatFactory(owner=chat.owner, agent=chat.agent)
    theirs = ArtifactFactory(owner=chat.owner, chat=other_chat, title="Theirs")

    def check(messages):
        assert "out of reach" in tool_text(messages)
        return Say("I cannot change that one.")

    script = ScriptedModel(
        Call("update_artifact", {"artifact_id": theirs.pk, "title": "Hijacked"}), check
    )
    outcome = ask(chat, "Rename artifact", script)

    theirs.refresh_from_db()
    assert theirs.title == "Theirs"
    assert not MessageArtifact.objects.exists()
    assert outcome.reply.artifact is None
    assert outcome.reply.status == Message.Status.COMPLETE
    assert (f"Artifact #{theirs.pk} is out of reach", "failed") in activities(outcome)


def test_rejected_sql_goes_back_to_the_model_which_corrects_it(chat, shop):
    def corrected(messages):
        feedback = tool_text(messages)
        assert "refused" in feedback and "Fix the SQL" in feedback
        return Call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})

    script = ScriptedModel(
        Call("run_sql", {"sql": "DELETE FROM orders"}),
        corrected,
        Say("There are 5 orders."),
    )
    outcome = ask(chat, "Clean up orders", script)

    assert order_count(shop) == 5
    assert outcome.reply.status == Message.Status.COMPLETE
    assert activities(outcome) == [
        ("Running SQL", "started"),
        ("SQL was refused", "failed"),
        ("Running SQL", "started"),
        ("Ran SQL (1 row)", "done"),
    ]


def test_failing_queries_are_capped_per_turn(chat):
    bad = [Call("run_sql", {"sql": "SELECT nope FROM orders"}) for _ in range(6)]

    def stop(messages):
        assert tool_text(messages).startswith("Stop: 5 queries failed")
        return Say("I could not get it to work.")

    script = ScriptedModel(*bad, stop)
    outcome = ask(chat, "Try hard", script)
    assert outcome.reply.status == Message.Status.COMPLETE
    assert activities(outcome)[-1] == (
        "Stopped running SQL after repeated failures",
        "failed",
    )


def test_invalid_artifact_is_explained_field_by_field(chat):
    def check(messages):
        feedback = tool_text(messages)
        assert feedback.startswith("Nothing was saved. Fix these and call save_artifact again")
        assert "- title:" in feedback and "- params:" in feedback
        return Say("Sorry.")

    script = ScriptedModel(
        Call(
            "save_artifact",
            {"title": " ", "sql": "SELECT 1", "params": [{"name": "1st", "type": "string"}]},
        ),
        check,
    )
    outcome = ask(chat, "Save it", script)
    assert not Artifact.objects.exists()
    assert outcome.reply.status == Message.Status.COMPLETE
    assert ("Artifact not saved (invalid)", "failed") in activities(outcome)


def test_malformed_tool_arguments_get_a_retry_message(chat):
    def fixed(messages):
        assert "Invalid JSON" in tool_text(messages)
        return Call("run_sql", {"sql": "SELECT 1 AS one"})

    script = ScriptedModel(
        Call("run_sql", ['{"sql": "SELECT 1', " AS one"]),  # not JSON: the string never ends
        fixed,
        Say("One."),
    )
    outcome = ask(chat, "Say one", script)
    assert outcome.reply.status == Message.Status.COMPLETE
    assert (
        "The model sent unusable arguments to run_sql; asked it to fix them",
        "failed",
    ) in activities(outcome)


def test_malformed_arguments_that_never_get_fixed_end_in_a_clear_error(chat):
    broken = Call("run_sql", ['{"sql": '])
    script = ScriptedModel(broken, broken, broken)
    outcome = ask(chat, "Say one", script)
    assert outcome.reply.status == Message.Status.ERROR
    assert "run_sql" in outcome.reply.error and "could not be used" in outcome.reply.error


def test_provider_failure_keeps_partial_text_and_marks_error(chat):
    script = ScriptedModel(Raise(("The answer ", "is"), RuntimeError("boom")))
    outcome = ask(chat, "What is it?", script)

    reply = Message.objects.get(pk=outcome.reply.pk)
    assert reply.status == Message.Status.ERROR
    assert reply.content == "The answer is"
    assert outcome.events[-1] == TurnFailed(message_id=reply.pk, reason=reply.error)
    assert Message.objects.get(pk=outcome.user_message.pk).content == "What is it?"
    call = ModelCall.objects.get(message=reply)
    # The user reads plain words and the call's number; operators read the exception.
    assert reply.error == f"{runner.INTERNAL_ERROR} (Reference: model call {call.pk}.)"
    assert call.outcome == "error" and "RuntimeError: boom" in call.error


def test_retry_reuses_the_failed_reply(chat):
    failed = ask(chat, "Count orders", ScriptedModel(Raise(("Part",), RuntimeError("x")))).reply
    script = ScriptedModel(Say("5 orders."))
    outcome = retry_turn_sync(chat, failed.reply_to, model=script.model)

    assert outcome.reply.pk == failed.pk
    assert outcome.reply.status == Message.Status.COMPLETE
    assert outcome.reply.content == "5 orders."
    assert outcome.reply.error == ""
    assert chat.messages.count() == 2
    assert ModelCall.objects.filter(message=failed).count() == 2  # the failure stays logged
    with pytest.raises(TurnRefused):
        retry_turn_sync(chat, failed.reply_to, model=script.model)
    with pytest.raises(TurnRefused):
        run_turn_sync(chat, failed.reply_to, model=script.model)


def test_history_replays_previous_turns(chat):
    ask(
        chat,
        "How many orders?",
        ScriptedModel(Call("run_sql", {"sql": "SELECT COUNT(*) FROM orders"}), Say("Five.")),
    )
    second = ScriptedModel(Say("Still five."))
    ask(chat, "And now?", second)

    seen = second.requests[0]
    kinds = [m.kind for m in seen]
    # Turn 1: question, tool call, tool result, answer; then turn 2's question.
    assert kinds == ["request", "response", "request", "response", "request"]
    assert seen[0].parts[0].content == "How many orders?"
    assert seen[1].parts[0].tool_name == "run_sql"
    assert seen[3].parts[0].content == "Five."
    assert seen[4].parts[-1].content == "And now?"


def test_history_is_bounded_by_the_turn_budget(chat, settings):
    settings.LLM_HISTORY_TURNS = 1
    ask(chat, "First?", ScriptedModel(Say("One.")))
    ask(chat, "Second?", ScriptedModel(Say("Two.")))
    third = ScriptedModel(Say("Three."))
    ask(chat, "Third?", third)
    prompts = [p.content for m in third.requests[0] if m.kind == "request" for p in m.parts]
    assert prompts == ["Second?", "Third?"]


def test_a_failed_turn_replays_as_text(chat):
    ask(chat, "First?", ScriptedModel(Raise(("Half an ans",), RuntimeError("x"))))
    second = ScriptedModel(Say("Two."))
    ask(chat, "Second?", second)
    replayed = second.requests[0][1].parts[0].content
    assert replayed.startswith("Half an ans") and "cut short" in replayed


def test_disconnect_keeps_what_arrived_and_marks_error(chat):
    script = ScriptedModel(Say("Partial ", "answer ", "never finished"))
    user_message = post_user_message(chat, content="Tell me")

    async def consume_until_first_text() -> None:
        events = run_turn(chat, user_message, model=script.model)
        async for event in events:
            if isinstance(event, TextDelta):
                break
        await events.aclose()  # what the server does when the browser goes away

    async_to_sync(consume_until_first_text)()

    reply = Message.objects.get(reply_to=user_message)
    assert reply.status == Message.Status.ERROR
    assert reply.error == INTERRUPTED
    assert reply.content.startswith("Partial")


def test_search_finds_only_visible_active_artifacts_of_the_source(chat, other_user):
    mine = ArtifactFactory(owner=chat.owner, title="Revenue by category")
    ArtifactFactory(owner=other_user, title="Revenue secrets")
    ArtifactFactory(owner=chat.owner, title="Revenue draft", status=Artifact.Status.DRAFT)

    def check(messages):
        found = tool_text(messages)
        assert f"#{mine.pk} Revenue by category" in found
        assert "secrets" not in found and "draft" not in found
        assert mine.sql_query in found
        return Say("Found one.")

    ask(chat, "Revenue?", ScriptedModel(Call("search_artifacts", {"query": "revenue"}), check))


def test_describe_unknown_table_lists_the_real_ones(chat):
    def check(messages):
        text = tool_text(messages)
        assert "no table named 'sales'" in text and "orders" in text
        return Call("describe_table", {"name": "orders"})

    def described(messages):
        assert "- total" in tool_text(messages)
        return Say("ok")

    outcome = ask(
        chat,
        "Sales?",
        ScriptedModel(Call("describe_table", {"name": "sales"}), check, described),
    )
    assert ("Looking at table orders", "started") in activities(outcome)


def test_describe_table_shows_joins_row_count_and_sample_rows(chat):
    def described(messages):
        text = tool_text(messages)
        assert "Table orders (about 5 rows):" in text
        assert "- category_id INTEGER NOT NULL -> categories.id" in text
        assert "- status TEXT NOT NULL\n" in text  # no join on a plain column
        assert "Sample rows (first 3, in no particular order):" in text
        assert "id | category_id | status | ordered_at | total" in text
        assert "1 | 1 | delivered | 2024-05-02 | 12.5" in text
        assert "2024-05-05" not in text  # only the first three rows
        return Say("ok")

    ask(chat, "Orders?", ScriptedModel(Call("describe_table", {"name": "orders"}), described))


def test_describe_table_is_bounded_for_a_wide_table(chat, shop):
    columns = ", ".join(f"column_with_a_long_name_{i} TEXT" for i in range(400))
    with sqlite3.connect(shop) as connection:
        connection.execute(f"CREATE TABLE wide ({columns})")
        values = ", ".join(["'repeat_me'"] * 400)
        connection.execute(f"INSERT INTO wide VALUES ({values})")

    def described(messages):
        text = tool_text(messages)
        assert "Table wide (about 1 row):" in text
        assert "(cut short: the table is wide)" in text
        assert len(text) < 7000
        return Say("ok")

    ask(chat, "Wide?", ScriptedModel(Call("describe_table", {"name": "wide"}), described))


def test_missing_api_key_is_a_clear_error(chat, monkeypatch):
    monkeypatch.delenv("SHOP_OPENAI_KEY", raising=False)
    chat.agent.provider = "openai"
    chat.agent.api_key_env = "SHOP_OPENAI_KEY"
    chat.agent.save()
    user_message = post_user_message(chat, content="Hello?")
    outcome = run_turn_sync(chat, user_message)
    assert outcome.reply.status == Message.Status.ERROR
    # Variables are for operators: the user is told to ask one, with a reference to quote.
    assert "SHOP_OPENAI_KEY" not in outcome.reply.error
    call = ModelCall.objects.get()  # no request was made, but the failure is in the log
    assert outcome.reply.error == f"{PUBLIC_NOT_SET_UP} (Reference: model call {call.pk}.)"
    assert (call.message, call.outcome, call.latency_ms) == (outcome.reply, "error", 0)
    assert "SHOP_OPENAI_KEY" in call.error and "README" in call.error


def test_unreachable_server_tells_the_user_to_ask_and_operators_how_to_configure(chat, settings):
    settings.LLM_MAX_RETRIES = 0
    user_message = post_user_message(chat, content="Hello?")
    outcome = run_turn_sync(chat, user_message)  # AgentFactory points at a closed port
    reply = outcome.reply
    assert reply.status == Message.Status.ERROR
    call = ModelCall.objects.get(message=reply)
    assert reply.error == f"{PUBLIC_UNREACHABLE} (Reference: model call {call.pk}.)"
    assert call.outcome == "error"
    assert call.error.startswith("Could not reach the model server at http://127.0.0.1:9/v1")
    assert "LLM_BASE_URL" in call.error and "README" in call.error


def test_cancelled_consumer_keeps_what_arrived_and_marks_error(chat):
    """A cancelled turn (the server shutting down) keeps what arrived."""
    script = ScriptedModel(Say("Partial ", "answer ", "never finished"))
    user_message = post_user_message(chat, content="Tell me")

    async def cancel_after_first_text() -> None:
        first_text = asyncio.Event()

        async def consume() -> None:
            # As a server does, close the stream when the task streaming it ends.
            async with contextlib.aclosing(
                run_turn(chat, user_message, model=script.model)
            ) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        first_text.set()
                        await asyncio.sleep(10)  # the browser stops reading

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_text.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async_to_sync(cancel_after_first_text)()

    reply = Message.objects.get(reply_to=user_message)
    assert (reply.status, reply.error) == (Message.Status.ERROR, INTERRUPTED)
    assert reply.content == "Partial "
    assert reply.is_retryable


def test_reply_is_saved_while_it_streams(chat, monkeypatch):
    monkeypatch.setattr(reply_module, "SAVE_INTERVAL_SECONDS", 0)
    script = ScriptedModel(Say("First ", "second ", "third"))
    user_message = post_user_message(chat, content="Go")
    seen: list[tuple[str, str]] = []

    async def watch() -> None:
        async for event in run_turn(chat, user_message, model=script.model):
            if isinstance(event, TextDelta) and event.text == "third":
                # The turn waits at this event until we ask for the next one, so the reply
                # stays pending while the background write lands; poll rather than guess
                # how long that takes on a busy machine.
                for _ in range(500):
                    reply = await Message.objects.aget(reply_to=user_message)
                    if reply.content:
                        break
                    await asyncio.sleep(0.01)
                seen.append((reply.status, reply.content))

    async_to_sync(watch)()
    status, content = seen[0]
    assert status == Message.Status.PENDING
    assert content.startswith("First ")


def test_a_reply_pending_for_too_long_can_be_retried(chat):
    user_message = post_user_message(chat, content="Hello")
    stale = Message.objects.create(
        chat=chat, role="assistant", status="pending", reply_to=user_message
    )
    with pytest.raises(TurnRefused, match="being answered"):
        retry_turn_sync(chat, user_message, model=ScriptedModel(Say("Hi")).model)
    Message.objects.filter(pk=stale.pk).update(created_at=timezone.now() - STALE_PENDING_AFTER)
    outcome = retry_turn_sync(chat, user_message, model=ScriptedModel(Say("Hi")).model)
    assert outcome.reply.pk == stale.pk and outcome.reply.status == "complete"


def test_a_deactivated_agent_says_so(chat):
    chat.agent.is_active = False
    chat.agent.save()
    outcome = ask(chat, "Hello?", ScriptedModel())
    assert outcome.reply.status == Message.Status.ERROR
    assert "deactivated" in outcome.reply.error


def test_model_call_totals_per_agent(chat):
    ask(chat, "One", ScriptedModel(Call("list_tables", {}), Say("Tables.")))
    ask(chat, "Two", ScriptedModel(Raise(("x",), RuntimeError("down"))))
    (totals,) = Agent.objects.with_call_totals()
    assert totals.name == chat.agent.name
    assert (totals.call_count, totals.error_count) == (3, 1)
    replies = Message.objects.filter(role="assistant")
    assert totals.input_tokens_total == sum(m.input_tokens or 0 for m in replies)


def test_save_artifact_validates_the_sql_like_any_artifact(chat):
    def check(messages):
        feedback = tool_text(messages)
        assert "- sql:" in feedback
        return Call(
            "save_artifact",
            {
                "title": "Orders since",
                "sql": "SELECT * FROM orders WHERE ordered_at >= :since",
                "params": [{"name": "since", "type": "date", "default": "2024-05-01"}],
            },
        )

    script = ScriptedModel(
        Call("save_artifact", {"title": "Wipe", "sql": "DELETE FROM orders"}),
        check,
        Say("Saved."),
    )
    ask(chat, "Orders since a date", script)
    artifact = Artifact.objects.get()
    assert artifact.title == "Orders since"
    assert artifact.query_params == [
        {"name": "since", "type": "date", "label": "", "default": "2024-05-01", "required": False}
    ]


def test_events_serialise_for_the_api_and_sse():
    event = ToolActivity("call_1", "describe_table", "Looking at table <orders>", "started")
    assert event.as_dict() == {
        "type": "tool",
        "call_id": "call_1",
        "tool": "describe_table",
        "label": "Looking at table <orders>",
        "state": "started",
    }
    lines = TextDelta("a\nb").as_sse().split("\n")
    assert lines[0] == "event: text"
    assert json.loads(lines[1].removeprefix("data: ")) == {"type": "text", "text": "a\nb"}
    assert lines[2:] == ["", ""]


def test_closing_the_stream_after_done_keeps_the_reply_complete(chat):
    script = ScriptedModel(Say("All done."))
    user_message = post_user_message(chat, content="Go")

    async def stop_at_done() -> None:
        events = run_turn(chat, user_message, model=script.model)
        async for event in events:
            if isinstance(event, TurnDone):
                break
        await events.aclose()

    async_to_sync(stop_at_done)()
    reply = Message.objects.get(reply_to=user_message)
    assert (reply.status, reply.content) == (Message.Status.COMPLETE, "All done.")


def test_a_crash_in_a_tool_is_reported_without_details(chat, monkeypatch, caplog):
    def broken(source, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(schema, "list_tables", broken)
    outcome = ask(chat, "Tables?", ScriptedModel(Call("list_tables", {})))
    assert outcome.reply.status == Message.Status.ERROR
    call = ModelCall.objects.get(message=outcome.reply, outcome="error")
    assert outcome.reply.error == f"{runner.INTERNAL_ERROR} (Reference: model call {call.pk}.)"
    assert "secret internals" in caplog.text  # for operators, in the log
    assert "secret internals" in call.error  # and in the model-call log


def test_history_pairs_replies_without_a_link_by_order(chat):
    """Demo chats were written without reply_to: each reply answers the question before it."""
    MessageFactory(chat=chat, role="user", content="Old question")
    MessageFactory(chat=chat, role="assistant", content="Old answer")
    script = ScriptedModel(Say("New answer."))
    ask(chat, "New question", script)
    texts = [part.content for message in script.requests[0] for part in message.parts]
    assert texts[:2] == ["Old question", "Old answer"]
    assert texts[-1] == "New question"


def test_run_sql_binds_parameters_and_names_missing_ones(chat):
    sql = "SELECT COUNT(*) AS n FROM orders WHERE status = :status"

    def with_value(messages):
        assert "No value was given for :status" in tool_text(messages)
        return Call("run_sql", {"sql": sql, "params": {"status": "delivered"}})

    def counted(messages):
        assert tool_text(messages).splitlines()[:2] == ["n (integer)", "3"]
        return Say("3 delivered.")

    outcome = ask(
        chat, "Delivered?", ScriptedModel(Call("run_sql", {"sql": sql}), with_value, counted)
    )
    assert outcome.reply.status == Message.Status.COMPLETE


def test_instructions_carry_the_agents_prompt_the_dialect_and_the_date(chat):
    script = ScriptedModel(Say("Hi."))
    ask(chat, "Hello", script)
    instructions = script.requests[0][-1].instructions
    assert instructions.startswith(chat.agent.system_prompt)
    assert "SQLite SQL" in instructions and "save_artifact" in instructions
    assert f"Today is {timezone.localdate().isoformat()}." in instructions


def test_cancelled_while_waiting_for_the_model_keeps_what_arrived(chat):
    script = ScriptedModel(Say("Partial ", 30.0, "never sent"))
    user_message = post_user_message(chat, content="Tell me")

    async def cancel_while_waiting() -> None:
        first_text = asyncio.Event()

        async def consume() -> None:
            async for event in run_turn(chat, user_message, model=script.model):
                if isinstance(event, TextDelta):
                    first_text.set()  # then wait for the model, inside the turn

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_text.wait(), timeout=10)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async_to_sync(cancel_while_waiting)()
    reply = Message.objects.get(reply_to=user_message)
    assert (reply.status, reply.error, reply.content) == ("error", INTERRUPTED, "Partial ")
    assert ModelCall.objects.get(message=reply).outcome == "error"


def test_closing_the_stream_marks_the_reply_interrupted_before_aclose_returns(chat):
    """A server closes the stream of a gone browser; the reply must be settled by then, in
    the server's task, not later by the garbage collector (possibly as the loop shuts down)."""
    script = ScriptedModel(Say("Partial ", 30.0, "never sent"))
    user_message = post_user_message(chat, content="Tell me")
    seen: list[tuple[str, str, str]] = []

    async def close_after_first_text() -> None:
        events = run_turn(chat, user_message, model=script.model)
        async for event in events:
            if isinstance(event, TextDelta):
                break
        await events.aclose()
        reply = await Message.objects.aget(reply_to=user_message)
        seen.append((reply.status, reply.error, reply.content))

    async_to_sync(close_after_first_text)()
    assert seen == [(Message.Status.ERROR, INTERRUPTED, "Partial ")]


def test_a_missing_data_source_is_plain_words_for_the_model_and_detail_in_the_log(
    chat, monkeypatch, caplog
):
    def missing(source, **kwargs):
        raise UnknownDataSource("Unknown data source 'marketplace'. Configured: internal_pg.")

    monkeypatch.setattr(schema, "list_tables", missing)
    seen = []

    def check(messages):
        seen.append(tool_text(messages))
        return Say("Sorry.")

    ask(chat, "Tables?", ScriptedModel(Call("list_tables", {}), check))

    # The model may repeat what a tool says to the user: no set-up detail in it.
    assert seen and "not available" in seen[0] and "internal_pg" not in seen[0]
    assert "internal_pg" in caplog.text  # operators read why in the server log
