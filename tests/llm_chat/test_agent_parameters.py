"""The agent's tools take relative date defaults and allowed values from a column, and
their descriptions (which the model reads) say so."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_chat.agent import run_turn_sync, tools
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_chat.factories import ChatFactory

BETWEEN = (
    "SELECT id FROM orders WHERE ordered_at >= :start AND ordered_at < :end "
    "AND status = :status ORDER BY id"
)
DECLARATIONS = [
    {"name": "start", "type": "date", "default": "start_of_month -1 month"},
    {"name": "end", "type": "date", "default": "start_of_month"},
    {
        "name": "status",
        "type": "string",
        "default": "paid",
        "choices_from": {"table": "orders", "column": "status"},
    },
]


@pytest.fixture
def chat(owner, shop, monkeypatch):
    # June 10, 2024: last month is May, when the fake shop's orders were placed.
    moment = dt.datetime(2024, 6, 10, 12, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return ChatFactory(owner=owner)


def ask(chat, content: str, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content=content), model=script.model)


def test_the_agent_saves_relative_defaults_and_column_choices_then_runs(chat):
    saved_id: list[int] = []

    def run_it(messages):
        # The model's callbacks run in the event loop: ids come from the tool's text.
        match = re.match(r"Saved artifact #(\d+) ", tool_text(messages))
        assert match
        saved_id.append(int(match.group(1)))
        return Call("run_artifact", {"artifact_id": saved_id[0], "params": {"status": "cancelled"}})

    def ran(messages):
        text = tool_text(messages)
        assert "start='2024-05-01', end='2024-06-01', status='cancelled'" in text
        return Call("run_artifact", {"artifact_id": saved_id[0], "params": {"status": "lost"}})

    def refused(messages):
        assert "'lost' is not a value of column 'status' of 'orders'" in tool_text(messages)
        return Say("Done.")

    script = ScriptedModel(
        Call("save_artifact", {"title": "Last month", "sql": BETWEEN, "params": DECLARATIONS}),
        run_it,
        ran,
        refused,
    )
    ask(chat, "Returned orders last month", script)
    saved = Artifact.objects.get()
    assert [d["default"] for d in saved.query_params] == [
        "start_of_month -1 month",
        "start_of_month",
        "paid",
    ]
    assert saved.query_params[2]["choices_from"] == {"table": "orders", "column": "status"}
    # One run, with the concrete dates; the refused value ran nothing.
    [run] = ArtifactRun.objects.all()
    assert run.params == {"start": "2024-05-01", "end": "2024-06-01", "status": "cancelled"}
    assert run.row_count == 1  # the one cancelled order, of May 4


def test_the_agent_hears_about_a_missing_column_and_a_bad_expression(chat):
    bad = [
        {"name": "start", "type": "date", "default": "start_of_mnth"},
        {"name": "end", "type": "date", "default": "today"},
        {"name": "status", "type": "string", "choices_from": {"table": "orders", "column": "sts"}},
    ]

    def fix(messages):
        text = tool_text(messages)
        assert text.startswith("Nothing was saved.")
        assert "- params: Parameter 'start': default 'start_of_mnth'" in text
        return Call("save_artifact", {"title": "Last month", "sql": BETWEEN, "params": bad[1:]})

    def column(messages):
        text = tool_text(messages)
        assert "- params: Parameter 'status': choices_from: table 'orders' has no column" in text
        return Say("I will fix it.")

    script = ScriptedModel(
        Call("save_artifact", {"title": "Last month", "sql": BETWEEN, "params": bad}),
        fix,
        column,
    )
    ask(chat, "Returned orders last month", script)
    assert not Artifact.objects.exists()


def test_search_tells_the_agent_what_a_relative_default_means_today(chat, owner):
    Artifact.objects.create(
        owner=owner,
        chat=chat,
        title="Orders last month",
        sql_query=BETWEEN,
        query_params=DECLARATIONS,
        data_source="marketplace",
    )

    def read(messages):
        text = tool_text(messages)
        assert "start (date, default start_of_month -1 month (= 2024-05-01 today))" in text
        assert "status (string, one of the values of orders.status, default paid)" in text
        return Say("Found it.")

    ask(chat, "Orders?", ScriptedModel(Call("search_artifacts", {"query": "orders"}), read))


def test_the_tools_descriptions_tell_the_model():
    declaration = tools.ParamDeclaration.model_json_schema()
    assert "start_of_month -1 month" in str(declaration)
    assert "choices_from" in declaration["properties"]
    assert "relative" in tools.save_artifact.__doc__
    assert "choices_from" in tools.update_artifact.__doc__
    assert "start_of_month -1 month" in tools.run_artifact.__doc__
