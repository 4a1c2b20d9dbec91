"""Tags and the verified mark through the API: the artifact's `tags`, `question`,
`verified*` and `keep_verified`, ?tag= and ?verified=, /verify/ and /unverify/, /api/tags/."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, Tag
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_artifact.library_personas import share_with

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:artifact-list")
TAGS_URL = reverse("api:tag-list")


def detail_url(artifact) -> str:
    return reverse("api:artifact-detail", args=[artifact.pk])


def verify_url(artifact) -> str:
    return reverse("api:artifact-verify", args=[artifact.pk])


def unverify_url(artifact) -> str:
    return reverse("api:artifact-unverify", args=[artifact.pk])


@pytest.fixture
def artifact(owner):
    return ArtifactFactory(owner=owner, title="Revenue", question="")


def test_editor_sets_tags_new_ones_created_trimmed_and_case_kept(artifact, owner_api):
    Tag.objects.create(name="Finance")
    response = owner_api.patch(
        detail_url(artifact), {"tags": ["  finance ", "weekly", "WEEKLY", ""]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["Finance", "weekly"]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["Finance", "weekly"]
    # Writing the list replaces it.
    response = owner_api.patch(detail_url(artifact), {"tags": ["weekly"]}, format="json")
    assert response.json()["tags"] == ["weekly"]


def test_too_many_or_too_long_tags_are_a_field_error(artifact, owner_api):
    response = owner_api.patch(
        detail_url(artifact), {"tags": [f"t{i}" for i in range(21)]}, format="json"
    )
    assert response.status_code == 400
    assert "at most 20 tags" in response.json()["tags"][0]
    response = owner_api.patch(detail_url(artifact), {"tags": ["x" * 51]}, format="json")
    assert response.status_code == 400
    assert "50 characters" in response.json()["tags"][0]
    assert not artifact.tags.exists()


def test_create_with_tags_and_question(owner_api):
    response = owner_api.post(
        LIST_URL,
        {
            "title": "Orders",
            "sql_query": "SELECT 1",
            "data_source": "marketplace",
            "tags": ["ops"],
            "question": "How many orders?",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["tags"] == ["ops"]
    assert response.json()["verified"] is False


def test_tag_filter_repeated_means_all_of_them(owner, owner_api):
    both = ArtifactFactory(owner=owner, title="both")
    both.set_tags(["finance", "weekly"])
    ArtifactFactory(owner=owner, title="one").set_tags(["finance"])
    ArtifactFactory(owner=owner, title="none")

    def titles(params):
        return sorted(a["title"] for a in owner_api.get(LIST_URL, params).json()["results"])

    assert titles({"tag": "FINANCE"}) == ["both", "one"]
    assert titles({"tag": ["finance", "weekly"]}) == ["both"]
    assert titles({"tag": "unknown"}) == []
    assert owner_api.get(LIST_URL, {"tag": "x" * 51}).status_code == 400


def test_verify_and_unverify(artifact, owner, owner_api):
    response = owner_api.post(verify_url(artifact), {}, format="json")
    assert response.status_code == 400  # no question yet
    assert "question" in response.json()
    response = owner_api.post(
        verify_url(artifact), {"question": "What is the revenue?"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["verified"] is True
    assert body["verified_by"] == "owner"
    assert body["verified_at"]
    assert body["question"] == "What is the revenue?"
    assert owner_api.get(LIST_URL, {"verified": "true"}).json()["count"] == 1
    assert owner_api.get(LIST_URL, {"verified": "false"}).json()["count"] == 0
    response = owner_api.post(unverify_url(artifact))
    assert response.status_code == 200
    assert response.json()["verified"] is False
    assert response.json()["verified_by"] is None


def test_changing_the_sql_clears_the_mark_unless_kept(artifact, owner, owner_api):
    artifact.verify(owner, "What is the revenue?")
    response = owner_api.patch(
        detail_url(artifact),
        {"sql_query": "SELECT 2", "keep_verified": True},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["verified"] is True
    # A change of the title alone keeps it too.
    response = owner_api.patch(detail_url(artifact), {"title": "Revenue!"}, format="json")
    assert response.json()["verified"] is True
    response = owner_api.patch(detail_url(artifact), {"sql_query": "SELECT 3"}, format="json")
    assert response.json()["verified"] is False
    assert Artifact.objects.get(pk=artifact.pk).verified_at is None


def test_only_editors_verify(artifact, owner, analysts, group_viewer, group_editor, outsider):
    from rest_framework.test import APIClient

    share_with(artifact, analysts)
    artifact.shares.update(can_edit=False)

    def post(user, url):
        client = APIClient()
        client.force_authenticate(user)
        return client.post(url, {"question": "Q?"}, format="json")

    assert post(outsider, verify_url(artifact)).status_code == 404
    assert post(group_viewer, verify_url(artifact)).status_code == 403
    assert post(group_viewer, unverify_url(artifact)).status_code == 403
    assert not Artifact.objects.get(pk=artifact.pk).is_verified
    artifact.shares.update(can_edit=True)
    response = post(group_editor, verify_url(artifact))
    assert response.status_code == 200
    assert response.json()["verified_by"] == "group_editor"


def test_anonymous_cannot_verify(artifact, api_client):
    assert api_client.post(verify_url(artifact), {}, format="json").status_code in {401, 403}
    assert api_client.get(TAGS_URL).status_code in {401, 403}


def test_tags_endpoint_counts_only_visible_artifacts(owner, other_user, owner_api, other_api):
    ArtifactFactory(owner=owner).set_tags(["finance", "weekly"])
    ArtifactFactory(owner=owner).set_tags(["finance"])
    ArtifactFactory(owner=other_user).set_tags(["finance", "secret"])
    body = owner_api.get(TAGS_URL).json()
    assert [(t["name"], t["artifact_count"]) for t in body["results"]] == [
        ("finance", 2),
        ("weekly", 1),
    ]
    body = other_api.get(TAGS_URL).json()
    assert sorted((t["name"], t["artifact_count"]) for t in body["results"]) == [
        ("finance", 1),
        ("secret", 1),
    ]


def test_list_reads_tags_without_a_query_per_row(owner, owner_api, django_assert_max_num_queries):
    for i in range(3):
        ArtifactFactory(owner=owner).set_tags([f"t{i}", "shared"])
    owner_api.get(LIST_URL)
    with django_assert_max_num_queries(8) as few:
        owner_api.get(LIST_URL)
    for i in range(3, 20):
        ArtifactFactory(owner=owner).set_tags([f"t{i}", "shared"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_api.get(LIST_URL)


def test_a_partial_update_answers_every_library_field(artifact, owner_api):
    body = owner_api.patch(detail_url(artifact), {}, format="json").json()
    assert {"tags": [], "verified": False, "verified_by": None, "verified_at": None}.items() <= (
        body.items()
    )
