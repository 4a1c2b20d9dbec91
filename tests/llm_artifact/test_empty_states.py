"""Empty pages say what they are for and how to fill them; a filter that matches nothing
says so, differently from a list with nothing in it yet."""

from __future__ import annotations

from django.urls import reverse

from tests.llm_artifact.factories import ArtifactFactory

LIST_URL = reverse("llm_artifact:artifact_list")


def test_a_new_user_is_told_what_artifacts_are_and_how_to_get_one(owner_client):
    content = owner_client.get(LIST_URL).content.decode()
    assert "No artifacts yet." in content
    assert "Ask the agent in a chat" in content
    assert f'href="{reverse("llm_chat:chat_list")}"' in content
    assert "No artifacts match" not in content
    # Sorting is not filtering.
    assert "No artifacts yet." in owner_client.get(LIST_URL, {"sort": "title"}).content.decode()


def test_a_filter_that_matches_nothing_offers_to_clear_it(owner_client, owner):
    ArtifactFactory(owner=owner, status="active")
    content = owner_client.get(LIST_URL, {"status": "draft"}).content.decode()
    assert "No artifacts match these filters." in content
    assert "Clear filters</a> to see them all" in content
    assert "No artifacts yet." not in content


def test_an_empty_chat_list_says_what_chats_are_for(owner_client):
    content = owner_client.get(reverse("llm_chat:chat_list")).content.decode()
    assert "No chats yet." in content
    assert "ask an agent about your data" in content


def test_an_empty_run_history_says_how_to_fill_it(owner_client, owner):
    artifact = ArtifactFactory(owner=owner)
    content = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert "No runs yet. Press Run above" in content
