"""The artifact admin: list, filters, status actions, highlighted SQL and links to origin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.admin import MESSAGES_SHOWN
from apps.llm_artifact.models import Artifact
from apps.llm_chat.models import Message
from tests.conftest import UserFactory
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory, admin_form_data
from tests.llm_chat.factories import ChatFactory, MessageFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:llm_artifact_artifact_changelist")


def change_url(artifact: Artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def listed(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def highlighted_block(html: str) -> str:
    match = re.search(r'<div class="sql-highlight".*?</pre>', html, re.DOTALL)
    assert match, "no highlighted SQL on the page"
    return match.group(0)


def test_changelist_shows_badge_and_links(staff_client, owner):
    agent = AgentFactory(name="Analyst")
    chat = ChatFactory(title="Monthly revenue", owner=owner, agent=agent)
    ArtifactFactory(
        title="Revenue by month",
        status=Artifact.Status.FAILED,
        chat=chat,
        agent=agent,
        owner=owner,
        execution_count=7,
    )

    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Revenue by month" in html
    assert ">Failed</span>" in html
    agent_url = reverse("admin:llm_agent_agent_change", args=[agent.pk])
    chat_url = reverse("admin:llm_chat_chat_change", args=[chat.pk])
    assert f'<a href="{agent_url}">Analyst</a>' in html
    assert f'<a href="{chat_url}">Monthly revenue</a>' in html
    assert "marketplace" in html


def test_change_page_loads_with_origin_links(staff_client, owner):
    agent = AgentFactory(name="Analyst")
    chat = ChatFactory(title="Monthly revenue", owner=owner, agent=agent)
    artifact = ArtifactFactory(chat=chat, agent=agent, owner=owner)
    created = MessageFactory(
        chat=chat,
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    MessageFactory(chat=chat, content="Unrelated")

    response = staff_client.get(change_url(artifact))

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("admin:llm_agent_agent_change", args=[agent.pk]) in html
    assert reverse("admin:llm_chat_chat_change", args=[chat.pk]) in html
    message_url = reverse("admin:llm_chat_message_change", args=[created.pk])
    assert f'<a href="{message_url}">Message #{created.pk}</a> — Created' in html
    messages_url = reverse("admin:llm_chat_message_changelist")
    assert f'<a href="{messages_url}?artifact__id__exact={artifact.pk}">All 1 message</a>' in html


def test_change_page_lists_a_bounded_number_of_messages(staff_client, owner):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(chat=chat, owner=owner)
    for _ in range(MESSAGES_SHOWN + 5):
        MessageFactory(
            chat=chat,
            artifact=artifact,
            artifact_action=Message.ArtifactAction.REFERENCED,
        )

    html = staff_client.get(change_url(artifact)).content.decode()

    assert html.count("— Referenced in") == MESSAGES_SHOWN
    assert f"All {MESSAGES_SHOWN + 5} messages" in html


def test_change_page_of_an_orphan_artifact_shows_empty_markers(staff_client, owner):
    artifact = ArtifactFactory(owner=owner, chat=None, agent=None)

    response = staff_client.get(change_url(artifact))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Chat: - · Agent: -" in html
    assert "None" not in html


def test_add_page_loads(staff_client):
    response = staff_client.get(reverse("admin:llm_artifact_artifact_add"))
    assert response.status_code == 200


def test_sql_is_highlighted_on_the_change_page(staff_client, owner):
    artifact = ArtifactFactory(owner=owner, sql_query="SELECT status FROM orders")

    block = highlighted_block(staff_client.get(change_url(artifact)).content.decode())

    # Pygments wraps the keyword in a styled span: highlighted, not plain text.
    assert re.search(r'<span style="[^"]+">SELECT</span>', block)
    assert "orders" in block


def test_sql_with_markup_is_escaped(staff_client, owner):
    sql = "SELECT '<script>alert(1)</script>' AS x, 1 < 2 AS y FROM orders"
    artifact = ArtifactFactory(owner=owner, sql_query=sql)

    html = staff_client.get(change_url(artifact)).content.decode()

    assert "<script>alert(1)</script>" not in html
    block = highlighted_block(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block
    assert "<script>" not in block


@pytest.mark.parametrize("page", ["list", "change"])
def test_non_staff_is_sent_to_admin_login(client, owner, page):
    artifact = ArtifactFactory(owner=owner)
    client.force_login(owner)

    response = client.get(CHANGELIST if page == "list" else change_url(artifact))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    ("action", "status", "message"),
    [
        ("mark_active", Artifact.Status.ACTIVE, "2 artifacts marked as active. 1 already was."),
        ("mark_draft", Artifact.Status.DRAFT, "2 artifacts marked as draft. 1 already was."),
        (
            "mark_deprecated",
            Artifact.Status.DEPRECATED,
            "2 artifacts marked as deprecated. 1 already was.",
        ),
    ],
)
def test_status_actions(staff_client, staff, owner, action, status, message):
    others = [s for s in Artifact.Status if s != status][:2]
    changing = [ArtifactFactory(owner=owner, status=s) for s in others]
    already = ArtifactFactory(owner=owner, status=status)
    untouched = ArtifactFactory(owner=owner, status=others[0])
    selected = [*changing, already]

    response = staff_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [a.pk for a in selected]},
        follow=True,
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    for artifact in selected:
        artifact.refresh_from_db()
        assert artifact.status == status
    untouched.refresh_from_db()
    assert untouched.status == others[0]
    assert set(LogEntry.objects.filter(user=staff).values_list("object_id", flat=True)) == {
        str(a.pk) for a in changing
    }


def test_status_action_bumps_updated_at(staff_client, owner):
    artifact = ArtifactFactory(owner=owner, status=Artifact.Status.ACTIVE)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Artifact.objects.filter(pk=artifact.pk).update(updated_at=an_hour_ago)

    staff_client.post(CHANGELIST, {"action": "mark_deprecated", "_selected_action": [artifact.pk]})

    artifact.refresh_from_db()
    assert artifact.status == Artifact.Status.DEPRECATED
    assert artifact.updated_at > an_hour_ago


def test_search_over_title_description_comment_and_sql(staff_client, owner):
    by_title = ArtifactFactory(owner=owner, title="Churned customers")
    by_description = ArtifactFactory(owner=owner, description="Weekly cohort retention")
    by_comment = ArtifactFactory(owner=owner, comment="Replaces the old funnel query")
    by_sql = ArtifactFactory(owner=owner, sql_query="SELECT rating FROM reviews")

    assert listed(staff_client.get(CHANGELIST, {"q": "churned"})) == {by_title.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "cohort"})) == {by_description.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "funnel"})) == {by_comment.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "reviews"})) == {by_sql.pk}


def test_filters_on_status_type_data_source_agent_and_chat(staff_client, owner):
    analyst = AgentFactory(name="Analyst")
    chat = ChatFactory(owner=owner, agent=analyst)
    draft = ArtifactFactory(owner=owner, status=Artifact.Status.DRAFT)
    elsewhere = ArtifactFactory(owner=owner, data_source="warehouse")
    from_agent = ArtifactFactory(owner=owner, agent=analyst, chat=chat)

    assert listed(staff_client.get(CHANGELIST, {"status__exact": "draft"})) == {draft.pk}
    assert listed(staff_client.get(CHANGELIST, {"data_source": "warehouse"})) == {elsewhere.pk}
    assert listed(staff_client.get(CHANGELIST, {"agent__id__exact": analyst.pk})) == {from_agent.pk}
    # The chat admin's artifact count links here.
    assert listed(staff_client.get(CHANGELIST, {"chat__id__exact": chat.pk})) == {from_agent.pk}
    response = staff_client.get(CHANGELIST, {"artifact_type__exact": "sql_query"})
    assert listed(response) == {draft.pk, elsewhere.pk, from_agent.pk}


def test_date_hierarchy_drills_down_by_year(staff_client, owner):
    recent = ArtifactFactory(owner=owner)
    old = ArtifactFactory(owner=owner)
    last_year = timezone.now() - timedelta(days=400)
    Artifact.objects.filter(pk=old.pk).update(created_at=last_year)

    assert listed(staff_client.get(CHANGELIST, {"created_at__year": last_year.year})) == {old.pk}
    response = staff_client.get(CHANGELIST, {"created_at__year": timezone.now().year})
    assert listed(response) == {recent.pk}


def test_change_form_saves_an_edit(staff_client, owner):
    artifact = ArtifactFactory(owner=owner)

    response = staff_client.post(
        change_url(artifact), admin_form_data(artifact, comment="Checked by ops")
    )

    assert response.status_code == 302
    artifact.refresh_from_db()
    assert artifact.comment == "Checked by ops"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"sql_query": "   "}, "An SQL query artifact needs its SQL."),
        ({"data_source": "nowhere"}, "Unknown data source"),
        ({"visualization_config": "[1, 2]"}, "must be a JSON object"),
    ],
)
def test_change_form_shows_model_validation_errors(staff_client, owner, changes, error):
    artifact = ArtifactFactory(owner=owner)

    response = staff_client.post(change_url(artifact), admin_form_data(artifact, **changes))

    assert response.status_code == 200
    assert error in response.content.decode()
    artifact.refresh_from_db()
    assert artifact.data_source == "marketplace"
    assert artifact.sql_query.startswith("SELECT")


def test_changelist_query_count_does_not_grow_with_rows(staff_client, assert_get_queries):
    owners = UserFactory.create_batch(3)
    agents = AgentFactory.create_batch(3)
    chats = [ChatFactory(owner=owners[i], agent=agents[i]) for i in range(3)]

    def make_artifacts(count: int) -> None:
        for i in range(count):
            k = i % 3
            ArtifactFactory(owner=owners[k], agent=agents[k], chat=chats[k])

    # 9 before the tags filter (its choices: one query).
    make_artifacts(5)
    assert_get_queries(staff_client, CHANGELIST, most=10)
    make_artifacts(45)
    assert_get_queries(staff_client, CHANGELIST, most=10)


def test_change_page_query_count_does_not_grow_with_messages(
    staff_client, owner, assert_get_queries
):
    chat = ChatFactory(owner=owner)
    artifact = ArtifactFactory(owner=owner, chat=chat, agent=chat.agent)

    def reference(count: int) -> None:
        for _ in range(count):
            MessageFactory(
                chat=chat, artifact=artifact, artifact_action=Message.ArtifactAction.REFERENCED
            )

    # One more than before sharing (the shares inline's rows), one for the tags field.
    reference(2)
    assert_get_queries(staff_client, change_url(artifact), most=12)
    reference(30)
    assert_get_queries(staff_client, change_url(artifact), most=12)
