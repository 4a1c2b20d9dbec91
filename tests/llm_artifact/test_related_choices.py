"""Filters, choices and related fields offer only what the user may see.

Another user's chat must answer exactly like a chat that does not exist, on every face that
takes a chat: the API's filter, the API's related field, the browsable API's forms and the
artifact list page. Otherwise the difference tells one user which ids other users' chats have.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact
from tests.llm_agent.factories import AgentFactory
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:artifact-list")
PAGE_URL = reverse("llm_artifact:artifact_list")
SECRET_TITLE = "Layoffs planning, confidential"
MISSING_ID = 987_654


@pytest.fixture
def their_chat(other_user):
    # An id that appears nowhere else in a page, so the answers can be compared without it.
    chat = ChatFactory(pk=876_543, owner=other_user, title=SECRET_TITLE)
    ArtifactFactory(owner=other_user, chat=chat, title="Their artifact")
    return chat


def _same_answer(foreign, missing, foreign_id: int) -> None:
    """Same status, and the same body once the id the client sent (and the page's CSRF
    token, new on every response) are set aside."""
    assert foreign.status_code == missing.status_code

    def body(response, sent: int) -> str:
        text = response.content.decode().replace(str(sent), "<id>")
        return re.sub(r'("X-CSRFToken": ?"|csrfmiddlewaretoken" value=")[^"]+', r"\1", text)

    assert body(foreign, foreign_id) == body(missing, MISSING_ID)


def test_api_chat_filter_answers_another_users_chat_like_a_missing_one(
    owner_api, owner, their_chat
):
    ArtifactFactory(owner=owner, title="Mine")

    foreign = owner_api.get(LIST_URL, {"chat": their_chat.pk})
    missing = owner_api.get(LIST_URL, {"chat": MISSING_ID})

    assert foreign.status_code == 400
    assert "chat" in foreign.json()
    _same_answer(foreign, missing, their_chat.pk)


def test_api_chat_filter_still_filters_by_your_own_chat(owner_api, owner, their_chat):
    mine = ChatFactory(owner=owner)
    ArtifactFactory(owner=owner, chat=mine, title="In my chat")
    ArtifactFactory(owner=owner, title="Elsewhere")

    response = owner_api.get(LIST_URL, {"chat": mine.pk})

    assert [row["title"] for row in response.json()["results"]] == ["In my chat"]


def test_staff_may_filter_by_anyones_chat(staff_api, their_chat):
    # Everyone's artifacts, the staff toggle (issue 12): the default is their own and shared.
    response = staff_api.get(LIST_URL, {"chat": their_chat.pk, "scope": "all"})
    assert [row["title"] for row in response.json()["results"]] == ["Their artifact"]


def test_api_agent_filter_takes_any_agent_as_the_agents_api_lists_them(owner_api, owner):
    # Agents are shared configuration: every signed-in user reads them all, retired included.
    retired = AgentFactory(name="Retired", is_active=False)
    ArtifactFactory(owner=owner, agent=retired, title="By a retired agent")

    listed = owner_api.get(reverse("api:agent-list")).json()["results"]
    response = owner_api.get(LIST_URL, {"agent": retired.pk})

    assert retired.pk in [agent["id"] for agent in listed]
    assert [row["title"] for row in response.json()["results"]] == ["By a retired agent"]
    assert owner_api.get(LIST_URL, {"agent": MISSING_ID}).status_code == 400


@pytest.mark.parametrize("method", ["post", "patch"])
def test_api_chat_field_answers_another_users_chat_like_a_missing_one(
    owner_api, owner, their_chat, method
):
    artifact = ArtifactFactory(owner=owner)
    url = LIST_URL if method == "post" else reverse("api:artifact-detail", args=[artifact.pk])
    payload = {"title": "Linked", "sql_query": "SELECT 1"}
    send = getattr(owner_api, method)

    foreign = send(url, {**payload, "chat": their_chat.pk}, format="json")
    missing = send(url, {**payload, "chat": MISSING_ID}, format="json")

    assert foreign.status_code == 400
    assert set(foreign.json()) == {"chat"}
    _same_answer(foreign, missing, their_chat.pk)
    artifact.refresh_from_db()
    assert artifact.chat_id is None
    assert not Artifact.objects.filter(title="Linked").exists()


def _browsable(client, url: str) -> str:
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_browsable_api_forms_list_no_chats(owner_api, owner, their_chat):
    mine = ChatFactory(owner=owner, title="My own chat")
    artifact = ArtifactFactory(owner=owner, chat=mine)

    for url in (LIST_URL, reverse("api:artifact-detail", args=[artifact.pk])):
        content = _browsable(owner_api, url)
        assert SECRET_TITLE not in content
        # The chat is typed as an id: no select that would list thousands of chats.
        assert "My own chat" not in content
        assert '<select class="form-control" name="chat"' not in content
        assert 'name="chat"' in content


def test_browsable_api_forms_list_no_chats_to_staff_either(staff_api, their_chat):
    assert SECRET_TITLE not in _browsable(staff_api, LIST_URL)


def test_browsable_chat_api_shows_no_other_users_chat(owner_api, owner, their_chat):
    ChatFactory(owner=owner, title="My own chat")
    content = _browsable(owner_api, reverse("api:chat-list"))
    assert "My own chat" in content
    assert SECRET_TITLE not in content


def test_list_page_chat_filter_answers_another_users_chat_like_a_missing_one(
    owner_client, owner, their_chat
):
    ArtifactFactory(owner=owner, title="Mine")

    foreign = owner_client.get(PAGE_URL, {"chat": their_chat.pk})
    missing = owner_client.get(PAGE_URL, {"chat": MISSING_ID})

    assert foreign.status_code == missing.status_code == 200
    _same_answer(foreign, missing, their_chat.pk)
    assert SECRET_TITLE not in foreign.content.decode()


def test_list_page_offers_no_chat_the_user_cannot_see(owner_client, owner, their_chat):
    # Staff may link an artifact to any chat; its owner still must not learn that chat's title
    # from the filter.
    ArtifactFactory(owner=owner, chat=their_chat, title="Linked by staff")
    content = owner_client.get(PAGE_URL).content.decode()
    assert f'value="{their_chat.pk}"' not in content
    assert f">{SECRET_TITLE}</option>" not in content


def test_chat_api_agent_field_answers_a_retired_agent_like_a_missing_one(owner_api):
    # New chats go to agents in service only; a retired one is refused like a missing one.
    retired = AgentFactory(pk=876_542, name="Retired", is_active=False)

    retired_answer = owner_api.post(
        reverse("api:chat-list"), {"title": "T", "agent": retired.pk}, format="json"
    )
    missing = owner_api.post(
        reverse("api:chat-list"), {"title": "T", "agent": MISSING_ID}, format="json"
    )

    assert retired_answer.status_code == 400
    assert set(retired_answer.json()) == {"agent"}
    _same_answer(retired_answer, missing, retired.pk)
