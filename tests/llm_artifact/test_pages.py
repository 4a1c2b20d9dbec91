"""The artifact list, detail, inline edit and delete pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.models import Artifact, ArtifactShare
from apps.llm_chat.models import Message
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory, MessageFactory

HTMX = {"HX-Request": "true"}
LIST_URL = reverse("llm_artifact:artifact_list")


@pytest.fixture
def artifact(owner):
    chat = ChatFactory(owner=owner, title="Revenue chat")
    return ArtifactFactory(
        owner=owner,
        chat=chat,
        agent=chat.agent,
        title="Orders by status",
        description="How many orders sit in each status.",
        comment="Checked against the finance report.",
        query_params=[
            {"name": "since", "type": "date", "label": "Since", "default": "2024-01-01"},
            {"name": "limit", "type": "integer", "required": True},
        ],
        visualization_config={"mark": "bar", "encoding": {"x": {"field": "status"}}},
        execution_count=3,
        last_executed_at=timezone.now(),
    )


def url(name: str, artifact: Artifact) -> str:
    return reverse(f"llm_artifact:{name}", args=[artifact.pk])


def titles(response) -> list[str]:
    return [a.title for a in response.context["page_obj"]]


# --- Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "artifact_detail"),
        ("get", "artifact_edit"),
        ("post", "artifact_edit"),
        ("get", "artifact_confirm_delete"),
        ("post", "artifact_delete"),
    ],
)
def test_anonymous_is_redirected_to_sign_in(client, artifact, method, name):
    response = getattr(client, method)(url(name, artifact))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert Artifact.objects.filter(pk=artifact.pk).exists()


def test_anonymous_list_is_redirected_to_sign_in(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "artifact_detail"),
        ("get", "artifact_edit"),
        ("post", "artifact_edit"),
        ("get", "artifact_confirm_delete"),
        ("post", "artifact_delete"),
    ],
)
def test_other_user_gets_404(client, other_user, artifact, method, name):
    client.force_login(other_user)
    response = getattr(client, method)(url(name, artifact), {"title": "Stolen"})
    assert response.status_code == 404
    artifact.refresh_from_db()
    assert artifact.title == "Orders by status"


@pytest.mark.parametrize("name", ["artifact_detail", "artifact_edit", "artifact_confirm_delete"])
def test_staff_can_open_every_page(client, staff, artifact, name):
    client.force_login(staff)
    response = client.get(url(name, artifact))
    assert response.status_code == 200
    assert "Orders by status" in response.content.decode()


# --- List ------------------------------------------------------------------------------------


def test_list_shows_only_own_artifacts(owner_client, owner, other_user, artifact):
    ArtifactFactory(owner=other_user, title="Not yours")
    response = owner_client.get(LIST_URL)
    assert response.status_code == 200
    assert titles(response) == ["Orders by status"]
    content = response.content.decode()
    assert "Your artifacts" in content
    assert "Revenue chat" in content  # its chat
    assert artifact.agent.name in content


def test_staff_see_every_artifact_with_its_owner(client, staff, owner, other_user, artifact):
    # The list shows staff their own and shared artifacts; "Everything" shows them all.
    ArtifactFactory(owner=other_user, title="Another user's")
    client.force_login(staff)
    assert titles(client.get(LIST_URL)) == []
    response = client.get(f"{LIST_URL}?scope=all")
    assert sorted(titles(response)) == ["Another user's", "Orders by status"]
    assert ">other</a></div>" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "draft"}, ["Draft one"]),
        ({"status": "active"}, ["Active one"]),
        ({"q": "needle"}, ["Draft one"]),  # found in the SQL
        ({"q": "RETURNED"}, ["Active one"]),  # in the comment, any case
        ({"q": "cohort"}, ["Active one"]),  # in the description
        ({"q": "Draft"}, ["Draft one"]),  # in the title
        ({"q": "needle", "status": "active"}, []),
        ({"type": "sql_query"}, ["Active one", "Draft one"]),
    ],
)
def test_list_filters(owner_client, owner, params, expected):
    ArtifactFactory(owner=owner, title="Draft one", status="draft", sql_query="SELECT 'needle'")
    ArtifactFactory(
        owner=owner,
        title="Active one",
        description="Monthly cohort",
        comment="Excludes returned orders",
    )
    response = owner_client.get(LIST_URL, params)
    assert sorted(titles(response)) == expected


def test_list_filters_by_agent_and_chat(owner_client, owner):
    agent = AgentFactory(name="Specialist")
    chat = ChatFactory(owner=owner, title="Specific chat")
    ArtifactFactory(owner=owner, title="By agent", agent=agent)
    ArtifactFactory(owner=owner, title="In chat", chat=chat)
    ArtifactFactory(owner=owner, title="Neither")

    assert titles(owner_client.get(LIST_URL, {"agent": agent.pk})) == ["By agent"]
    response = owner_client.get(LIST_URL, {"chat": chat.pk})
    assert titles(response) == ["In chat"]
    # The chat filter offers the chats the user's artifacts belong to.
    assert f'<option value="{chat.pk}" selected>Specific chat</option>' in response.content.decode()


def test_chat_filter_offers_no_other_users_chats(owner_client, owner, other_user):
    ArtifactFactory(owner=other_user, chat=ChatFactory(owner=other_user, title="Private chat"))
    assert "Private chat" not in owner_client.get(LIST_URL).content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["Alpha", "Beta", "Gamma"]),
        ("-title", ["Gamma", "Beta", "Alpha"]),
        ("runs", ["Beta", "Gamma", "Alpha"]),
        ("-runs", ["Alpha", "Gamma", "Beta"]),
        ("last_run", ["Gamma", "Alpha", "Beta"]),  # never-run rows last either way
        ("-last_run", ["Alpha", "Gamma", "Beta"]),
        ("-updated", ["Gamma", "Beta", "Alpha"]),
    ],
)
def test_list_sorts_by_column(owner_client, owner, sort, expected):
    now = timezone.now()
    for title, runs, last_run in (
        ("Alpha", 9, now),
        ("Beta", 0, None),
        ("Gamma", 4, now - dt.timedelta(days=2)),
    ):
        ArtifactFactory(owner=owner, title=title, execution_count=runs, last_executed_at=last_run)
    assert titles(owner_client.get(LIST_URL, {"sort": sort})) == expected


def test_sort_links_flip_the_direction(owner_client, artifact):
    content = owner_client.get(LIST_URL, {"sort": "title"}).content.decode()
    assert 'href="/artifacts/?sort=-title"' in content
    assert 'aria-sort="ascending"' in content
    content = owner_client.get(LIST_URL, {"sort": "-title"}).content.decode()
    assert 'href="/artifacts/?sort=title"' in content
    assert 'aria-sort="descending"' in content


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "owner__password"},
        {"sort": "-secret; DROP TABLE"},
        {"status": "bogus"},
        {"type": "python"},
        {"agent": "abc"},
        {"agent": "999999"},
        {"chat": "abc"},
        {"page": "x"},
        {"page": "9999"},
        {"q": "x" * 500},
    ],
)
def test_bad_input_never_fails_the_list(owner_client, owner, params):
    ArtifactFactory(owner=owner, title="Still listed")
    response = owner_client.get(LIST_URL, params)
    assert response.status_code == 200
    assert titles(response) == ["Still listed"]


def test_an_ignored_filter_is_reported(owner_client, artifact):
    content = owner_client.get(LIST_URL, {"sort": "owner__password"}).content.decode()
    assert "Ignored sort:" in content


def test_list_is_paginated_keeping_the_filters(owner_client, owner):
    for n in range(30):
        ArtifactFactory(owner=owner, title=f"Draft {n:02}", status="draft")
    ArtifactFactory(owner=owner, title="Active")
    first = owner_client.get(LIST_URL, {"status": "draft", "sort": "title"})
    second = owner_client.get(LIST_URL, {"status": "draft", "sort": "title", "page": 2})
    assert len(titles(first)) == 25
    assert titles(second) == [f"Draft {n:02}" for n in range(25, 30)]
    assert 'href="/artifacts/?status=draft&amp;sort=title&amp;page=2"' in first.content.decode()


def test_list_prints_no_template_comments_and_pages_in_place(owner_client, owner):
    for n in range(30):
        ArtifactFactory(owner=owner, title=f"Draft {n:02}")
    content = owner_client.get(LIST_URL, {"sort": "title"}).content.decode()
    assert "{#" not in content
    assert "Everything below swaps" not in content
    assert 'hx-get="/artifacts/?sort=title&amp;page=2"' in content


def test_htmx_request_gets_only_the_results(owner_client, artifact):
    response = owner_client.get(LIST_URL, {"q": "orders"}, headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="artifact-results"')
    assert "<html" not in content
    assert 'id="artifact-filters"' not in content
    assert "Orders by status" in content
    assert "HX-Request" in response.headers["Vary"]


def test_full_page_has_filters_wired_for_htmx_and_plain_get(owner_client, artifact):
    content = owner_client.get(LIST_URL).content.decode()
    assert "<html" in content
    assert 'id="artifact-filters"' in content
    assert 'method="get" action="/artifacts/"' in content
    assert 'hx-trigger="input changed delay:300ms, search"' in content
    assert 'hx-push-url="true"' in content


def test_list_escapes_titles(owner_client, owner):
    ArtifactFactory(owner=owner, title="<script>alert(1)</script>")
    content = owner_client.get(LIST_URL).content.decode()
    assert "<script>alert(1)" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("count", [5, 50])
def test_list_runs_a_fixed_number_of_queries(
    owner_client, owner, count, shared, django_assert_max_num_queries
):
    agent = AgentFactory()
    groups = [Group.objects.create(name=f"Team {n}") for n in range(3)]
    for n in range(count):
        chat = ChatFactory(owner=owner, agent=agent)
        artifact = ArtifactFactory(owner=owner, chat=chat, agent=agent, title=f"Artifact {n}")
        if shared:
            artifact.visibility = "groups"
            artifact.save(update_fields=["visibility"])
            for group in groups:
                ArtifactShare.objects.create(artifact=artifact, group=group)
    # Session, user, row count, the page's rows, their shares (the badge), agent choices,
    # chat choices, tag chips.
    with django_assert_max_num_queries(8):
        response = owner_client.get(LIST_URL)
    assert len(titles(response)) == min(count, 25)
    assert response.content.decode().count("shared-badge") == (min(count, 25) if shared else 0)


# --- Detail ----------------------------------------------------------------------------------


def test_detail_shows_the_artifact(owner_client, artifact):
    created_in = MessageFactory(
        chat=artifact.chat,
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    response = owner_client.get(url("artifact_detail", artifact))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Orders by status" in content
    assert 'id="artifact-status">Active</span>' in content
    assert "SQL query" in content
    assert 'class="sql-highlight"' in content
    assert "GROUP</span>" in content  # highlighted
    assert "<code>:since</code>" in content and "<code>2024-01-01</code>" in content
    assert "<code>:limit</code>" in content
    assert "&quot;mark&quot;: &quot;bar&quot;" in content  # pretty JSON, escaped
    assert "How many orders sit in each status." in content
    assert "Checked against the finance report." in content
    assert f'href="{artifact.chat.get_absolute_url()}"' in content
    assert f'href="/artifacts/?agent={artifact.agent_id}"' in content
    assert f'href="{artifact.chat.get_absolute_url()}#message-{created_in.pk}"' in content
    assert 'id="artifact-execution-count">3</div>' in content
    assert 'id="artifact-run-panel"' in content


def test_detail_without_chat_agent_or_params(owner_client, owner):
    artifact = ArtifactFactory(owner=owner)
    content = owner_client.get(url("artifact_detail", artifact)).content.decode()
    assert "This query takes no parameters." in content
    assert "None: the results show as a table." in content
    assert "Not by a chat message" in content
    assert "Never" in content


def test_detail_escapes_llm_written_fields(owner_client, owner):
    artifact = ArtifactFactory(
        owner=owner,
        title="<script>alert('t')</script>",
        description="<img src=x onerror=alert(1)>",
        visualization_config={"title": "</pre><script>alert('v')</script>"},
        query_params=[{"name": "p", "type": "string", "label": "<b>label</b>"}],
    )
    content = owner_client.get(url("artifact_detail", artifact)).content.decode()
    assert "<script>alert" not in content
    assert "<img src=x" not in content
    assert "<b>label</b>" not in content
    assert "&lt;/pre&gt;&lt;script&gt;" in content


def test_detail_shows_why_the_last_run_failed(owner_client, artifact):
    Artifact.objects.filter(pk=artifact.pk).update(
        status=Artifact.Status.FAILED, last_error="no such column: <statuz>"
    )
    content = owner_client.get(url("artifact_detail", artifact)).content.decode()
    assert 'id="artifact-status">Failed</span>' in content
    assert "The last run failed" in content
    assert "no such column: &lt;statuz&gt;" in content


def test_detail_as_htmx_returns_the_summary(owner_client, artifact):
    response = owner_client.get(url("artifact_detail", artifact), headers=HTMX)
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="artifact-summary"')
    assert "<html" not in content


# --- Inline edit -----------------------------------------------------------------------------


def edit_data(**changes) -> dict:
    data = {
        "title": "Orders by status",
        "status": "active",
        "description": "How many orders sit in each status.",
        "comment": "Checked against the finance report.",
    }
    data.update(changes)
    return data


def test_edit_form_as_htmx_is_the_form_partial(owner_client, artifact):
    response = owner_client.get(url("artifact_edit", artifact), headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<form id="artifact-summary"')
    assert 'value="Orders by status"' in content
    assert "<html" not in content


HISTORY_RESTORE = {**HTMX, "HX-History-Restore-Request": "true"}


@pytest.mark.parametrize("name", ["artifact_detail", "artifact_edit"])
def test_pages_answer_htmx_and_history_restores_by_one_rule(owner_client, artifact, name):
    """A fragment for htmx (GET and POST alike), the whole page for a history restore."""
    partial = owner_client.get(url(name, artifact), headers=HTMX)
    restored = owner_client.get(url(name, artifact), headers=HISTORY_RESTORE)
    assert "<html" not in partial.content.decode()
    assert "<html" in restored.content.decode()
    assert "HX-Request" in partial.headers["Vary"]
    assert "HX-Request" in restored.headers["Vary"]


def test_list_history_restore_gets_the_whole_page(owner_client, artifact):
    response = owner_client.get(LIST_URL, headers=HISTORY_RESTORE)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response.headers["Vary"]


def test_refused_edit_as_htmx_is_the_form_partial(owner_client, artifact):
    response = owner_client.post(url("artifact_edit", artifact), edit_data(title=""), headers=HTMX)
    content = response.content.decode()
    assert response.status_code == 422
    assert content.lstrip().startswith('<form id="artifact-summary"')
    assert "<html" not in content


def test_edit_form_without_javascript_is_a_page(owner_client, artifact):
    content = owner_client.get(url("artifact_edit", artifact)).content.decode()
    assert "<html" in content
    assert f'action="{url("artifact_edit", artifact)}"' in content


def test_inline_edit_saves_and_returns_the_summary(owner_client, artifact):
    response = owner_client.post(
        url("artifact_edit", artifact),
        edit_data(title="Orders per status", status="deprecated", comment="Superseded."),
        headers=HTMX,
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="artifact-summary"')
    assert "Orders per status" in content and "Superseded." in content and "Saved." in content
    artifact.refresh_from_db()
    assert (artifact.title, artifact.status, artifact.comment) == (
        "Orders per status",
        "deprecated",
        "Superseded.",
    )


def test_edit_without_javascript_redirects_to_the_artifact(owner_client, artifact):
    response = owner_client.post(url("artifact_edit", artifact), edit_data(comment="Plain POST"))
    assert response.status_code == 302
    assert response.url == artifact.get_absolute_url()
    artifact.refresh_from_db()
    assert artifact.comment == "Plain POST"


def test_edit_keeps_the_run_statistics(owner_client, artifact):
    owner_client.post(url("artifact_edit", artifact), edit_data(comment="New note"))
    artifact.refresh_from_db()
    assert artifact.execution_count == 3
    assert artifact.last_executed_at is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": ""}, "This field is required."),
        ({"title": "x" * 201}, "at most 200 characters"),
        ({"status": "archived"}, "Select a valid choice."),
    ],
)
def test_edit_errors_are_shown_in_place(owner_client, artifact, changes, message):
    response = owner_client.post(url("artifact_edit", artifact), edit_data(**changes), headers=HTMX)
    assert response.status_code == 422
    content = response.content.decode()
    assert content.lstrip().startswith('<form id="artifact-summary"')
    assert message in content
    assert 'aria-invalid="true"' in content
    artifact.refresh_from_db()
    assert artifact.title == "Orders by status"
    assert artifact.status == "active"


def test_edit_errors_without_javascript_show_the_form_page(owner_client, artifact):
    response = owner_client.post(url("artifact_edit", artifact), edit_data(title=""))
    assert response.status_code == 422
    content = response.content.decode()
    assert "<html" in content
    assert "This field is required." in content


def test_edit_shows_model_errors_about_fields_it_does_not_edit(owner_client, artifact, monkeypatch):
    # The model may reject the artifact for its SQL (issue 3's guard does): the form must
    # say so rather than crash, since the SQL is not one of its fields.
    def reject_sql(self):
        raise ValidationError({"sql_query": "Only SELECT statements may run."})

    monkeypatch.setattr(Artifact, "clean", reject_sql)
    response = owner_client.post(url("artifact_edit", artifact), edit_data(), headers=HTMX)
    assert response.status_code == 422
    assert "SQL: Only SELECT statements may run." in response.content.decode()


def test_staff_can_edit_any_artifact(client, staff, artifact):
    client.force_login(staff)
    client.post(url("artifact_edit", artifact), edit_data(comment="Reviewed by staff"))
    artifact.refresh_from_db()
    assert artifact.comment == "Reviewed by staff"


def test_edit_escapes_what_was_typed(owner_client, artifact):
    response = owner_client.post(
        url("artifact_edit", artifact), edit_data(comment="<script>x</script>"), headers=HTMX
    )
    assert "&lt;script&gt;x&lt;/script&gt;" in response.content.decode()


# --- Delete ----------------------------------------------------------------------------------


def test_confirm_page_posts_to_delete(owner_client, artifact):
    content = owner_client.get(url("artifact_confirm_delete", artifact)).content.decode()
    assert f'method="post" action="{url("artifact_delete", artifact)}"' in content


def test_delete_without_javascript_redirects_to_the_list(owner_client, artifact):
    message = MessageFactory(
        chat=artifact.chat,
        role=Message.Role.ASSISTANT,
        artifact=artifact,
        artifact_action=Message.ArtifactAction.CREATED,
    )
    response = owner_client.post(url("artifact_delete", artifact))
    assert response.status_code == 302
    assert response.url == LIST_URL
    assert not Artifact.objects.filter(pk=artifact.pk).exists()
    # The chat keeps its message.
    message.refresh_from_db()
    assert message.artifact is None
    followed = owner_client.get(LIST_URL).content.decode()
    assert "Deleted the artifact “Orders by status”." in followed


def test_delete_with_htmx_redirects_on_the_client(owner_client, artifact):
    response = owner_client.post(url("artifact_delete", artifact), headers=HTMX)
    assert response.headers["HX-Redirect"] == LIST_URL
    assert not Artifact.objects.filter(pk=artifact.pk).exists()


def test_delete_is_post_only(owner_client, artifact):
    assert owner_client.get(url("artifact_delete", artifact)).status_code == 405
    assert Artifact.objects.filter(pk=artifact.pk).exists()


def test_staff_can_delete_any_artifact(client, staff, artifact):
    client.force_login(staff)
    assert client.post(url("artifact_delete", artifact)).status_code == 302
    assert not Artifact.objects.filter(pk=artifact.pk).exists()


def test_detail_page_offers_delete_with_confirmation(owner_client, artifact):
    content = owner_client.get(url("artifact_detail", artifact)).content.decode()
    assert f'href="{url("artifact_confirm_delete", artifact)}"' in content
    assert f'hx-post="{url("artifact_delete", artifact)}"' in content
    assert "hx-confirm=" in content
