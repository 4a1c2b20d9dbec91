"""The agent puts artifacts on a dashboard (save_dashboard, update_dashboard), driven by a
scripted model: "put the weekly revenue, orders by status and the top sellers on a
dashboard with a date filter"."""

from __future__ import annotations

import pytest

from apps.llm_artifact.models import Artifact
from apps.llm_chat.agent import ArtifactSaved, run_turn_sync
from apps.llm_chat.models import Message, MessageArtifact
from apps.llm_chat.services import post_user_message
from tests.fakes.scripted import Call, Say, ScriptedModel, tool_text
from tests.llm_artifact.factories import (
    PERIOD_PARAMS,
    REVENUE_SQL,
    ArtifactFactory,
    period_artifacts,
)
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

DATE_FILTER = {"label": "Order date", "kind": "date_range", "params": ["start_date", "end_date"]}


@pytest.fixture
def chat(owner, shop):
    return ChatFactory(owner=owner)


def ask(chat, content: str, script: ScriptedModel):
    return run_turn_sync(chat, post_user_message(chat, content=content), model=script.model)


def test_agent_builds_a_dashboard_from_existing_and_new_artifacts(client, chat, owner):
    existing = period_artifacts(owner)[1:]  # orders by status, top customers

    def saved(messages):
        new_id = int(tool_text(messages).split("#")[1].split(" ")[0])
        return Call(
            "save_dashboard",
            {
                "title": "Sales overview",
                "tiles": [
                    {"artifact_id": new_id, "show": "number", "width": 4},
                    {"artifact_id": existing[0].pk, "show": "chart", "width": 8},
                    {"artifact_id": existing[1].pk},
                ],
                "filters": [DATE_FILTER],
            },
        )

    def done(messages):
        assert tool_text(messages).startswith("Saved dashboard #")
        return Say("Your dashboard is ready.")

    script = ScriptedModel(
        Call(
            "save_artifact",
            {"title": "Revenue", "sql": REVENUE_SQL, "params": PERIOD_PARAMS},
        ),
        saved,
        done,
    )
    outcome = ask(chat, "Put revenue, orders by status and top sellers on a dashboard", script)

    dashboard = Artifact.objects.get(artifact_type="dashboard")
    assert (dashboard.owner, dashboard.chat, dashboard.title) == (owner, chat, "Sales overview")
    document = dashboard.document
    revenue = Artifact.objects.get(title="Revenue", chat=chat)
    assert [t["artifact"] for t in document["tiles"]] == [
        str(revenue.uid),
        str(existing[0].uid),
        str(existing[1].uid),
    ]
    assert [t["show"] for t in document["tiles"]] == ["number", "chart", "table"]
    assert document["filters"][0]["params"] == ["start_date", "end_date"]
    link = MessageArtifact.objects.get(message=outcome.reply, artifact=dashboard)
    assert link.action == Message.ArtifactAction.CREATED
    assert any(
        isinstance(e, ArtifactSaved) and e.artifact_id == dashboard.pk for e in outcome.events
    )
    # The chat shows a card that opens it.
    client.force_login(owner)
    html = client.get(chat.get_absolute_url()).content.decode()
    assert "dashboard-card" in html and "Open dashboard" in html
    assert f'href="{dashboard.get_absolute_url()}"' in html


def test_agent_is_told_which_artifacts_it_may_not_use(chat, other_user):
    theirs = ArtifactFactory(owner=other_user)

    def refused(messages):
        text = tool_text(messages)
        assert text.startswith(f"Nothing was saved: no SQL artifact #{theirs.pk}")
        return Say("I cannot use that one.")

    script = ScriptedModel(
        Call("save_dashboard", {"title": "Theirs", "tiles": [{"artifact_id": theirs.pk}]}),
        refused,
    )
    ask(chat, "Dashboard of their query", script)
    assert not Artifact.objects.filter(artifact_type="dashboard").exists()


def test_agent_gets_the_documents_problems_back(chat, owner):
    artifact = ArtifactFactory(owner=owner, chat=chat)

    def refused(messages):
        text = tool_text(messages)
        assert "Fix these and call save_dashboard again" in text
        assert "date range fills two parameters" in text
        return Say("Fixed later.")

    bad_filter = {"label": "Date", "kind": "date_range", "params": ["start_date"]}
    script = ScriptedModel(
        Call(
            "save_dashboard",
            {"title": "D", "tiles": [{"artifact_id": artifact.pk}], "filters": [bad_filter]},
        ),
        refused,
    )
    ask(chat, "Dashboard", script)
    assert not Artifact.objects.filter(artifact_type="dashboard").exists()


def test_agent_updates_a_dashboard_of_this_chat(chat, owner):
    artifacts = period_artifacts(owner)
    first = ScriptedModel(
        Call(
            "save_dashboard",
            {"title": "Overview", "tiles": [{"artifact_id": artifacts[0].pk}]},
        ),
        Say("Done."),
    )
    ask(chat, "Dashboard", first)
    dashboard = Artifact.objects.get(artifact_type="dashboard")
    second = ScriptedModel(
        Call(
            "update_dashboard",
            {
                "dashboard_id": dashboard.pk,
                "title": "Overview, weekly",
                "tiles": [{"artifact_id": a.pk, "width": 4} for a in artifacts],
            },
        ),
        Say("Updated."),
    )
    outcome = ask(chat, "Add the other two", second)
    dashboard.refresh_from_db()
    assert dashboard.title == "Overview, weekly"
    assert [t["width"] for t in dashboard.document["tiles"]] == [4, 4, 4]
    assert MessageArtifact.objects.get(message=outcome.reply).action == "updated"


def test_agent_may_not_update_a_dashboard_of_another_chat(chat, owner):
    artifact = ArtifactFactory(owner=owner)
    other = Artifact.objects.create(
        owner=owner,
        artifact_type="dashboard",
        title="Elsewhere",
        data_source="marketplace",
        document={"tiles": [], "filters": []},
    )

    def refused(messages):
        assert "is out of reach" in tool_text(messages)
        return Say("Cannot.")

    script = ScriptedModel(
        Call(
            "update_dashboard",
            {"dashboard_id": other.pk, "tiles": [{"artifact_id": artifact.pk}]},
        ),
        refused,
    )
    ask(chat, "Change it", script)
    other.refresh_from_db()
    assert other.document["tiles"] == []


def test_the_sql_tools_leave_dashboards_alone(chat, owner):
    artifacts = period_artifacts(owner)
    dashboard = Artifact.objects.create(
        owner=owner,
        chat=chat,
        artifact_type="dashboard",
        title="Revenue dashboard",
        data_source="marketplace",
        document={"tiles": [], "filters": []},
    )

    def searched(messages):
        text = tool_text(messages)
        assert f"#{artifacts[0].pk} Revenue" in text and "Revenue dashboard" not in text
        return Call("run_artifact", {"artifact_id": dashboard.pk})

    def ran(messages):
        assert tool_text(messages).startswith(f"There is no artifact #{dashboard.pk}")
        return Call("update_artifact", {"artifact_id": dashboard.pk, "sql": "SELECT 1"})

    def updated(messages):
        assert "is out of reach" in tool_text(messages)
        return Say("Those are for queries.")

    script = ScriptedModel(Call("search_artifacts", {"query": "revenue"}), searched, ran, updated)
    ask(chat, "Revenue?", script)
    dashboard.refresh_from_db()
    assert dashboard.sql_query == ""
