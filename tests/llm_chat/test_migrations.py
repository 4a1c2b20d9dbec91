"""Data migrations of llm_chat keep every row and change only what they must."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.llm_chat.models import Message

BEFORE_MASKING = [("llm_chat", "0003_move_modelcall_to_llm_agent")]


@pytest.mark.django_db(transaction=True)
def test_errors_written_before_masking_lose_the_credentials_of_urls_they_quote():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_MASKING)
    old = executor.loader.project_state(BEFORE_MASKING).apps
    user = old.get_model("auth", "User").objects.create(username="ann")
    agent = old.get_model("llm_agent", "Agent").objects.create(
        name="Local", provider="openai_compatible", model_name="m", data_source="marketplace"
    )
    chat = old.get_model("llm_chat", "Chat").objects.create(title="T", agent=agent, owner=user)
    old_message = old.get_model("llm_chat", "Message")
    leaky = old_message.objects.create(
        chat=chat,
        role="assistant",
        status="error",
        error="Could not reach the model server at http://u:hunter2@127.0.0.1:9/v1 — is it up?",
    )
    plain = old_message.objects.create(chat=chat, role="assistant", status="error", error="Down.")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Message.objects.get(pk=leaky.pk).error == (
        "Could not reach the model server at http://***@127.0.0.1:9/v1 — is it up?"
    )
    assert Message.objects.get(pk=plain.pk).error == "Down."
