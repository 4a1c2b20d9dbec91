"""The agent's save and update tools check the SQL's tables and columns like the editor and
the save do: the model is told what does not exist and what it probably meant."""

from __future__ import annotations

import pytest

from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_chat.factories import ChatFactory

SUGGESTION = "no column `totl` in `orders`; did you mean `total`?"


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


def ask(chat, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content="Save it"), model=script.model)


def test_save_artifact_is_told_the_unknown_column_and_the_suggestion(chat):
    def check(messages):
        feedback = tool_text(messages)
        assert feedback.startswith("Nothing was saved. Fix these and call save_artifact again")
        assert f"- sql: Line 1, column 8: {SUGGESTION}" in feedback
        return Say("Sorry.")

    script = ScriptedModel(
        Call("save_artifact", {"title": "Totals", "sql": "SELECT totl FROM orders"}), check
    )
    ask(chat, script)

    assert not Artifact.objects.exists()


def test_update_artifact_is_told_the_unknown_column_and_the_suggestion(chat):
    def update(messages):
        artifact = Artifact.objects.get()
        typo = "SELECT totl FROM orders"
        return Call("update_artifact", {"artifact_id": artifact.pk, "sql": typo})

    def check(messages):
        feedback = tool_text(messages)
        assert feedback.startswith("Nothing was saved. Fix these and call update_artifact again")
        assert SUGGESTION in feedback
        return Say("Sorry.")

    script = ScriptedModel(
        Call("save_artifact", {"title": "Totals", "sql": "SELECT total FROM orders"}),
        update,
        check,
    )
    ask(chat, script)

    assert Artifact.objects.get().sql_query == "SELECT total FROM orders"
