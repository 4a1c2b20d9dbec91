"""The agent's charts, driven by a scripted pydantic-ai FunctionModel: set_visualization
checks a spec against the artifact's result columns, hands the problems back to the model
with their paths, and saves what is right the way update_artifact does."""

from __future__ import annotations

import json
import re

import pytest

from apps.datasources import executor
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.services import run_artifact
from apps.llm_chat.agent import ArtifactSaved, ToolActivity, run_turn_sync
from apps.llm_chat.models import Message, MessageArtifact
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory

REVENUE_SQL = (
    "SELECT c.name AS category, SUM(o.total) AS revenue FROM orders o "
    "JOIN categories c ON c.id = o.category_id GROUP BY c.name ORDER BY revenue DESC"
)
RESULTS = {"name": "results"}


def bar(x: str = "category", y: str = "revenue") -> dict:
    return {
        "data": RESULTS,
        "mark": "bar",
        "encoding": {
            "x": {"field": x, "type": "nominal", "sort": "-y"},
            "y": {"field": y, "type": "quantitative"},
        },
    }


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


@pytest.fixture
def artifact(chat) -> Artifact:
    return ArtifactFactory(
        owner=chat.owner, chat=chat, agent=chat.agent, title="Revenue", sql_query=REVENUE_SQL
    )


def ask(chat, content: str, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content=content), model=script.model)


def activities(outcome) -> list[tuple[str, str]]:
    return [(e.label, e.state) for e in outcome.events if isinstance(e, ToolActivity)]


def problems_in(feedback: str) -> list[dict]:
    return json.loads(feedback[feedback.index("[") :])


def test_errors_go_back_to_the_model_which_fixes_the_spec(chat, artifact):
    def fix(messages):
        feedback = tool_text(messages)
        assert feedback.startswith("The chart was not saved. Fix these problems")
        assert "the result's columns: category, revenue" in feedback
        [problem] = problems_in(feedback)
        assert (problem["path"], problem["severity"]) == ("encoding.y.field", "error")
        assert 'named "total"' in problem["message"]
        return Call("set_visualization", {"artifact_id": artifact.pk, "spec": bar()})

    def done(messages):
        assert tool_text(messages).startswith(f"Set the chart of artifact #{artifact.pk}")
        return Say("Charted.")

    script = ScriptedModel(
        Call("set_visualization", {"artifact_id": artifact.pk, "spec": bar(y="total")}),
        fix,
        done,
    )
    outcome = ask(chat, "Chart it", script)

    artifact.refresh_from_db()
    assert artifact.visualization_config == bar()
    reply = outcome.reply
    assert reply.status == Message.Status.COMPLETE
    assert (reply.artifact, reply.artifact_action) == (artifact, "updated")
    assert MessageArtifact.objects.get(message=reply).action == "updated"
    assert ArtifactSaved(artifact.pk, "updated", "Revenue") in outcome.events
    assert activities(outcome) == [
        (f"Charting artifact #{artifact.pk}", "started"),
        ("Chart not saved (invalid)", "failed"),
        (f"Charting artifact #{artifact.pk}", "started"),
        ("Set the chart of “Revenue”", "done"),
    ]


def test_without_a_run_the_sql_runs_once_for_its_columns_and_records_nothing(chat, artifact):
    def check(messages):
        [problem] = problems_in(tool_text(messages))
        assert problem["path"] == "encoding.x.field"
        return Say("I will fix it.")

    script = ScriptedModel(
        Call("set_visualization", {"artifact_id": artifact.pk, "spec": bar(x="name")}), check
    )
    ask(chat, "Chart it", script)

    artifact.refresh_from_db()
    assert artifact.visualization_config == {}
    assert not ArtifactRun.objects.exists()


def test_columns_come_from_the_latest_good_run_when_there_is_one(chat, artifact, monkeypatch):
    run_artifact(artifact, user=chat.owner, raw_params={})

    def no_query(*args, **kwargs):
        raise AssertionError("the recorded columns should have been enough")

    monkeypatch.setattr(executor, "execute", no_query)
    script = ScriptedModel(
        Call("set_visualization", {"artifact_id": artifact.pk, "spec": bar()}), Say("Done.")
    )
    ask(chat, "Chart it", script)
    artifact.refresh_from_db()
    assert artifact.visualization_config == bar()


def test_schema_errors_and_inline_data_are_named_by_path(chat, artifact):
    spec = {**bar(), "mark": "barz", "data": {"values": [{"category": "Books", "revenue": 1}]}}

    def check(messages):
        paths = {p["path"] for p in problems_in(tool_text(messages))}
        assert {"mark", "data.values"} <= paths
        return Say("Sorry.")

    ask(
        chat,
        "Chart it",
        ScriptedModel(Call("set_visualization", {"artifact_id": artifact.pk, "spec": spec}), check),
    )
    artifact.refresh_from_db()
    assert artifact.visualization_config == {}


def test_fields_go_unchecked_when_the_query_needs_a_value_and_that_is_said(chat):
    artifact = ArtifactFactory(
        owner=chat.owner,
        chat=chat,
        agent=chat.agent,
        title="Since",
        sql_query="SELECT status, COUNT(*) AS n FROM orders WHERE ordered_at >= :since "
        "GROUP BY status",
        query_params=[{"name": "since", "type": "date", "required": True}],
    )
    spec = bar(x="status", y="n")
    script = ScriptedModel(
        Call("set_visualization", {"artifact_id": artifact.pk, "spec": spec}), Say("Done.")
    )
    ask(chat, "Chart it", script)
    artifact.refresh_from_db()
    assert artifact.visualization_config == spec


def test_an_empty_spec_removes_the_chart(chat, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(visualization_config=bar())

    def check(messages):
        assert "it shows as a table" in tool_text(messages)
        return Say("Removed.")

    ask(
        chat,
        "No chart",
        ScriptedModel(Call("set_visualization", {"artifact_id": artifact.pk, "spec": {}}), check),
    )
    artifact.refresh_from_db()
    assert artifact.visualization_config == {}


def test_another_chats_artifact_is_out_of_reach(chat):
    theirs = ArtifactFactory(
        owner=chat.owner, chat=ChatFactory(owner=chat.owner, agent=chat.agent), title="Theirs"
    )

    def check(messages):
        assert "out of reach" in tool_text(messages)
        return Say("I cannot.")

    outcome = ask(
        chat,
        "Chart theirs",
        ScriptedModel(Call("set_visualization", {"artifact_id": theirs.pk, "spec": bar()}), check),
    )
    theirs.refresh_from_db()
    assert theirs.visualization_config == {}
    assert not MessageArtifact.objects.exists()
    assert (f"Artifact #{theirs.pk} is out of reach", "failed") in activities(outcome)


def test_a_whole_turn_saves_an_artifact_and_charts_it(chat):
    def chart(messages):
        # The model reads the new artifact's id in save_artifact's answer.
        artifact_id = int(re.search(r"Saved artifact #(\d+)", tool_text(messages))[1])
        return Call("set_visualization", {"artifact_id": artifact_id, "spec": bar()})

    script = ScriptedModel(
        Call("run_sql", {"sql": REVENUE_SQL}),
        Call("save_artifact", {"title": "Revenue by category", "sql": REVENUE_SQL}),
        chart,
        Say("Games lead."),
    )
    outcome = ask(chat, "Revenue by category, as a chart", script)

    artifact = Artifact.objects.get()
    assert artifact.visualization_config == bar()
    reply = outcome.reply
    assert reply.artifact == artifact
    # Charting the artifact it just created keeps the card's "created".
    assert [link.action for link in reply.artifact_links.order_by("pk")] == ["created"]
    assert [e.action for e in outcome.events if isinstance(e, ArtifactSaved)] == [
        "created",
        "updated",
    ]


def test_the_instructions_ask_for_a_chart_when_the_result_suits_one(chat):
    script = ScriptedModel(Say("Hi."))
    ask(chat, "Hello", script)
    instructions = script.requests[0][-1].instructions
    assert "set_visualization" in instructions
    assert '{"name": "results"}' in instructions
    assert "column names exactly" in instructions
