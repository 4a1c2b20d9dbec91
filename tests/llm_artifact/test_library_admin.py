"""Tags and the verified mark in the admin: the change form's Library fields (with "still
answers the question" when the SQL changes), the list's badge and filters, the actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact, Tag
from tests.llm_artifact.factories import ArtifactFactory, admin_form_data

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:llm_artifact_artifact_changelist")


def change_url(artifact) -> str:
    return reverse("admin:llm_artifact_artifact_change", args=[artifact.pk])


def post_change(client, artifact, **changes):
    data = admin_form_data(artifact, **changes)
    data.setdefault("tags", [t.pk for t in artifact.tags.all()])
    data.setdefault("question", artifact.question)
    data.update({"runs-TOTAL_FORMS": 0, "runs-INITIAL_FORMS": 0})
    return client.post(change_url(artifact), data)


@pytest.fixture
def verified(owner, staff):
    artifact = ArtifactFactory(owner=owner, title="Revenue", sql_query="SELECT 1")
    artifact.verify(staff, "How much?")
    return artifact


def test_changing_the_sql_in_the_admin_clears_the_mark_unless_ticked(verified, staff_client):
    response = post_change(staff_client, verified, sql_query="SELECT 2", keep_verified="on")
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Artifact.objects.get(pk=verified.pk).is_verified
    response = post_change(staff_client, verified, sql_query="SELECT 3")
    assert response.status_code == 302
    assert not Artifact.objects.get(pk=verified.pk).is_verified


def test_tags_are_chosen_with_autocomplete_and_filter_the_list(verified, owner, staff_client):
    tag = Tag.objects.create(name="finance")
    response = post_change(staff_client, verified, tags=[tag.pk])
    assert response.status_code == 302
    assert list(verified.tags.values_list("name", flat=True)) == ["finance"]
    ArtifactFactory(owner=owner, title="Other")
    result = staff_client.get(CHANGELIST, {"tags__id__exact": tag.pk}).context["cl"].result_list
    assert [a.title for a in result] == ["Revenue"]
    result = staff_client.get(CHANGELIST, {"verified": "no"}).context["cl"].result_list
    assert [a.title for a in result] == ["Other"]
    page = staff_client.get(change_url(verified)).content.decode()
    assert "admin-autocomplete" in page and "Still answers the question" in page
    found = staff_client.get(reverse("admin:autocomplete"), {
        "term": "fin", "app_label": "llm_artifact", "model_name": "artifact", "field_name": "tags"
    })  # fmt: skip
    assert [r["text"] for r in found.json()["results"]] == ["finance"]


def test_verify_actions(verified, owner, staff_client):
    questioned = ArtifactFactory(owner=owner, title="Q", question="Which?")
    bare = ArtifactFactory(owner=owner, title="No question", question="")
    response = staff_client.post(
        CHANGELIST,
        {"action": "mark_verified", "_selected_action": [questioned.pk, bare.pk]},
        follow=True,
    )
    assert "1 artifact marked as verified. 1 has no question" in response.content.decode()
    assert Artifact.objects.get(pk=questioned.pk).is_verified
    assert not Artifact.objects.get(pk=bare.pk).is_verified
    staff_client.post(
        CHANGELIST, {"action": "remove_verified", "_selected_action": [verified.pk, questioned.pk]}
    )
    assert not Artifact.objects.filter(verified_at__isnull=False).exists()
