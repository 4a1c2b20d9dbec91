"""'Ask the agent about this artifact': the page that starts the chat, what the agent is told,
and update_artifact on the artifact the chat is about (only when its owner may edit it)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.llm_chat.agent import run_turn_sync
from apps.llm_chat.agent.prompts import subject_context
from apps.llm_chat.models import Chat, Message
from apps.llm_chat.services import post_user_message, start_chat
from tests.conftest import share
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

DAILY_SQL = (
    "SELECT date(ordered_at) AS day, COUNT(*) AS orders FROM orders "
    "WHERE status = :status GROUP BY day ORDER BY day"
)
WEEKLY_SQL = (
    "SELECT strftime('%Y-%W', ordered_at) AS week, COUNT(*) AS orders FROM orders "
    "WHERE status = :status GROUP BY week ORDER BY week"
)
STATUS = [{"name": "status", "type": "string", "default": "paid", "label": "Status"}]


@pytest.fixture
def agent(db):
    return AgentFactory(name="Marketplace analyst")


@pytest.fixture
def artifact(owner, shop, agent):
    return ArtifactFactory(
        owner=owner, agent=agent, title="Orders a day", sql_query=DAILY_SQL, query_params=STATUS
    )


def about_url(artifact) -> str:
    return reverse("llm_chat:chat_about_artifact", args=[artifact.pk])


# --- The page -----------------------------------------------------------------------------------


def test_owner_sees_the_agents_of_the_artifacts_source_its_own_first(owner_client, artifact):
    AgentFactory(name="Another analyst")  # same source, listed after the artifact's own
    AgentFactory(name="Elsewhere", data_source="warehouse")

    response = owner_client.get(about_url(artifact))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Orders a day" in page
    assert page.index("Marketplace analyst") < page.index("Another analyst")
    assert "Elsewhere" not in page
    assert "updates this artifact" in page


def test_other_user_gets_404(client, other_user, artifact):
    client.force_login(other_user)
    assert client.get(about_url(artifact)).status_code == 404
    response = client.post(about_url(artifact), {"agent": artifact.agent_id, "content": "Hi"})
    assert response.status_code == 404
    assert not Chat.objects.exists()


def test_posting_starts_a_chat_about_the_artifact(owner_client, owner, artifact, agent):
    response = owner_client.post(
        about_url(artifact), {"agent": agent.pk, "content": "Make it weekly"}
    )

    chat = Chat.objects.get()
    assert response.status_code == 302 and response.url == chat.get_absolute_url()
    assert (chat.owner, chat.agent, chat.subject_artifact) == (owner, agent, artifact)
    assert chat.messages.get().content == "Make it weekly"


def test_an_agent_on_another_source_is_refused(owner_client, artifact):
    elsewhere = AgentFactory(name="Elsewhere", data_source="warehouse")
    response = owner_client.post(about_url(artifact), {"agent": elsewhere.pk, "content": "Hi"})
    assert response.status_code == 422
    assert not Chat.objects.exists()


def test_an_empty_question_is_refused(owner_client, artifact, agent):
    response = owner_client.post(about_url(artifact), {"agent": agent.pk, "content": " "})
    assert response.status_code == 422
    assert not Chat.objects.exists()


def test_without_a_usable_agent_the_page_says_so(owner_client, artifact, agent):
    agent.is_active = False
    agent.save()
    response = owner_client.get(about_url(artifact))
    assert response.status_code == 200
    assert 'id="about-artifact-no-agent"' in response.content.decode()


def test_viewer_is_told_the_agent_saves_a_copy(client, group_viewer, team, artifact):
    share(artifact, team)
    client.force_login(group_viewer)
    page = client.get(about_url(artifact)).content.decode()
    assert "saves a copy of your own" in page


# --- What the agent is told, and what it may change ----------------------------------------------


def test_context_has_the_sql_parameters_and_latest_columns(artifact, owner):
    artifact.record_run(
        user=owner,
        outcome="ok",
        started_at=artifact.created_at,
        params={"status": "paid"},
        columns=[{"name": "day", "type": "text"}, {"name": "orders", "type": "integer"}],
    )
    text = subject_context(artifact, can_update=True)
    assert f"#{artifact.pk} “Orders a day”" in text
    assert DAILY_SQL in text
    assert "status (string, default paid)" in text
    assert "day (text), orders (integer)" in text
    assert f"update_artifact with\nartifact_id={artifact.pk}" in text


def ask(chat, content: str, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content=content), model=script.model)


def test_make_it_weekly_updates_the_artifact_with_a_card(owner, artifact, agent):
    chat, question = start_chat(owner, agent, question="Make it weekly", subject_artifact=artifact)

    def told(messages):
        instructions = messages[-1].instructions or ""
        assert DAILY_SQL in instructions
        return Call("update_artifact", {"artifact_id": artifact.pk, "sql": WEEKLY_SQL})

    script = ScriptedModel(told, Say("It is weekly now."))
    outcome = run_turn_sync(chat, question, model=script.model)

    artifact.refresh_from_db()
    assert artifact.sql_query == WEEKLY_SQL
    assert artifact.chat is None  # still nobody's chat: the chat is about it
    assert (outcome.reply.artifact, outcome.reply.artifact_action) == (
        artifact,
        Message.ArtifactAction.UPDATED,
    )


def test_a_viewer_chat_cannot_update_the_artifact(group_viewer, team, artifact, agent):
    share(artifact, team)
    chat, question = start_chat(
        group_viewer, agent, question="Make it weekly", subject_artifact=artifact
    )

    def told(messages):
        assert "may not change this artifact" in (messages[-1].instructions or "")
        return Call("update_artifact", {"artifact_id": artifact.pk, "sql": WEEKLY_SQL})

    def refused(messages):
        assert "out of reach" in tool_text(messages)
        return Say("I saved nothing.")

    outcome = run_turn_sync(chat, question, model=ScriptedModel(told, refused).model)

    artifact.refresh_from_db()
    assert artifact.sql_query == DAILY_SQL
    assert outcome.reply.artifact is None


def test_update_is_refused_once_the_edit_share_is_taken_back(
    group_editor, editors, artifact, agent
):
    share(artifact, editors, edit=[editors])
    chat, _ = start_chat(group_editor, agent, question="Hello", subject_artifact=artifact)
    artifact.shares.update(can_edit=False)

    def refused(messages):
        assert "out of reach" in tool_text(messages)
        return Say("I cannot.")

    script = ScriptedModel(
        Call("update_artifact", {"artifact_id": artifact.pk, "sql": WEEKLY_SQL}), refused
    )
    ask(chat, "Make it weekly", script)

    artifact.refresh_from_db()
    assert artifact.sql_query == DAILY_SQL


def test_the_chat_page_names_the_artifact_for_those_who_may_see_it(
    owner_client, owner, artifact, agent, staff
):
    chat, _ = start_chat(owner, agent, question="Make it weekly", subject_artifact=artifact)
    page = owner_client.get(chat.get_absolute_url()).content.decode()
    assert 'id="chat-subject"' in page and artifact.get_absolute_url() in page
    plain, _ = start_chat(owner, agent, question="Hello")
    assert 'id="chat-subject"' not in owner_client.get(plain.get_absolute_url()).content.decode()

    # Staff reading the chat see it too.
    staff_client = Client()
    staff_client.force_login(staff)
    assert 'id="chat-subject"' in staff_client.get(chat.get_absolute_url()).content.decode()


def test_a_reader_who_may_not_see_the_artifact_is_not_told_of_it(
    owner, artifact, agent, group_viewer, team
):
    chat, _ = start_chat(owner, agent, question="Make it weekly", subject_artifact=artifact)
    share(chat, team)
    reader = Client()
    reader.force_login(group_viewer)

    response = reader.get(chat.get_absolute_url())

    assert response.status_code == 200
    assert 'id="chat-subject"' not in response.content.decode()
    assert artifact.get_absolute_url() not in response.content.decode()
