"""The model-call log moved from llm_chat to llm_agent without losing a row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.llm_agent.models import ModelCall

BEFORE = [("llm_chat", "0002_agent_turn"), ("llm_agent", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_moving_the_model_call_log_keeps_every_row():
    old = _migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="ann")
    agent = old.get_model("llm_agent", "Agent").objects.create(
        name="Local", provider="openai_compatible", model_name="m", data_source="marketplace"
    )
    chat = old.get_model("llm_chat", "Chat").objects.create(title="T", agent=agent, owner=user)
    message = old.get_model("llm_chat", "Message").objects.create(
        chat=chat, role="assistant", content="Hi"
    )
    old_call = old.get_model("llm_chat", "ModelCall")
    common = {"agent": agent, "model_name": "m", "started_at": timezone.now(), "latency_ms": 5.0}
    # A chat turn logged the response's provider name; a connection check the agent's.
    turn = old_call.objects.create(
        chat=chat, message=message, provider="openai-compatible", outcome="ok", **common
    )
    check = old_call.objects.create(
        provider="openai_compatible", outcome="error", error="down", **common
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    rows = {call.pk: call for call in ModelCall.objects.all()}
    assert set(rows) == {turn.pk, check.pk}
    assert (rows[turn.pk].chat_id, rows[turn.pk].message_id) == (chat.pk, message.pk)
    assert rows[check.pk].error == "down"
    assert {call.provider for call in rows.values()} == {"openai_compatible"}
