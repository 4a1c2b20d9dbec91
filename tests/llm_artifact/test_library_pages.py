"""The library on the pages: tags and the verified mark on the artifact page (htmx and plain
POST), the badge on lists and cards, and the /library/ page with its sections and search."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.llm_artifact.models import Artifact
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_artifact.library_personas import share_with

pytestmark = pytest.mark.django_db

LIBRARY_URL = reverse("library")
HTMX = {"HX-Request": "true"}


def tags_url(artifact) -> str:
    return reverse("llm_artifact:artifact_tags", args=[artifact.pk])


def verify_url(artifact) -> str:
    return reverse("llm_artifact:artifact_verify", args=[artifact.pk])


def unverify_url(artifact) -> str:
    return reverse("llm_artifact:artifact_unverify", args=[artifact.pk])


@pytest.fixture
def artifact(owner):
    return ArtifactFactory(owner=owner, title="Revenue by category")


def tag_names(artifact) -> list[str]:
    return sorted(artifact.tags.values_list("name", flat=True))


def test_owner_adds_and_removes_tags_inline(artifact, owner_client):
    response = owner_client.post(tags_url(artifact), {"add": " finance, Weekly ,,"}, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="artifact-library"' in content and "<html" not in content
    assert "finance" in content and "Weekly" in content
    assert tag_names(artifact) == ["Weekly", "finance"]
    response = owner_client.post(tags_url(artifact), {"remove": "weekly"}, headers=HTMX)
    assert tag_names(artifact) == ["finance"]


def test_too_long_or_too_many_tags_come_back_as_a_field_error(artifact, owner_client):
    response = owner_client.post(tags_url(artifact), {"add": "x" * 51}, headers=HTMX)
    assert response.status_code == 422
    assert "longer than 50 characters" in response.content.decode()
    many = ",".join(f"t{i}" for i in range(21))
    response = owner_client.post(tags_url(artifact), {"add": many}, headers=HTMX)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.content.decode()
    assert "at most 20 tags" in response.content.decode()
    assert tag_names(artifact) == []


def test_tags_without_javascript_redirect_back(artifact, owner_client):
    response = owner_client.post(tags_url(artifact), {"add": "ops"})
    assert response.status_code == 302
    assert response["Location"].startswith(artifact.get_absolute_url())
    page = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert "Tags saved." in page and "ops" in page


def test_verify_with_a_question_and_unverify(artifact, owner_client):
    response = owner_client.post(verify_url(artifact), {"question": ""}, headers=HTMX)
    assert response.status_code == 422
    assert "Say which question" in response.content.decode()
    response = owner_client.post(
        verify_url(artifact), {"question": "What did each category sell?"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "verified-badge" in response.content.decode()
    artifact.refresh_from_db()
    assert artifact.is_verified and artifact.question == "What did each category sell?"
    page = owner_client.get(artifact.get_absolute_url()).content.decode()
    assert "verified-badge" in page and "Remove the verified mark" in page
    owner_client.post(unverify_url(artifact), headers=HTMX)
    artifact.refresh_from_db()
    assert not artifact.is_verified


def test_viewer_sees_the_panel_without_its_forms_and_cannot_post(
    artifact, client, analysts, group_viewer, outsider
):
    share_with(artifact, analysts)
    client.force_login(group_viewer)
    page = client.get(artifact.get_absolute_url()).content.decode()
    assert 'id="artifact-library"' in page
    assert 'id="tag-form"' not in page and 'id="verify-form"' not in page
    assert client.post(tags_url(artifact), {"add": "x"}).status_code == 403
    assert client.post(verify_url(artifact), {"question": "Q"}).status_code == 403
    assert client.post(unverify_url(artifact)).status_code == 403
    client.force_login(outsider)
    assert client.post(tags_url(artifact), {"add": "x"}).status_code == 404
    assert client.post(verify_url(artifact), {"question": "Q"}).status_code == 404
    assert tag_names(artifact) == [] and not Artifact.objects.get(pk=artifact.pk).is_verified


def test_group_editor_tags_and_verifies(artifact, client, analysts, group_editor):
    share_with(artifact, analysts, can_edit=True)
    client.force_login(group_editor)
    assert client.post(tags_url(artifact), {"add": "shared"}).status_code == 302
    assert client.post(verify_url(artifact), {"question": "Q?"}).status_code == 302
    artifact.refresh_from_db()
    assert tag_names(artifact) == ["shared"] and artifact.verified_by == group_editor


def test_anonymous_is_sent_to_sign_in(artifact, client):
    for url in (LIBRARY_URL, tags_url(artifact), verify_url(artifact)):
        response = client.post(url) if url != LIBRARY_URL else client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_badge_on_the_artifact_list(artifact, owner, owner_client):
    ArtifactFactory(owner=owner, title="Unverified one")
    artifact.verify(owner, "Q?")
    page = owner_client.get(reverse("llm_artifact:artifact_list")).content.decode()
    assert page.count("verified-badge") == 1


@pytest.fixture
def library(owner, other_user):
    revenue = ArtifactFactory(
        owner=owner,
        title="Revenue by category",
        sql_query="SELECT category, SUM(total) FROM orders GROUP BY category",
    )
    revenue.set_tags(["finance"])
    revenue.verify(owner, "How much did each category sell?")
    refunds = ArtifactFactory(owner=owner, title="Refunds", sql_query="SELECT 1 FROM refunds")
    refunds.set_tags(["finance", "support"])
    ArtifactFactory(owner=owner, title="Plain", data_source="other_source")
    ArtifactFactory(owner=owner, title="Top N", template_slots=[{"name": "table"}])
    secret = ArtifactFactory(owner=other_user, title="Secret revenue")
    secret.set_tags(["finance", "secret"])


def test_library_sections_verified_first_with_counts(library, owner_client):
    response = owner_client.get(LIBRARY_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Secret revenue" not in page and ">secret<" not in page
    finance = response.context["tag_sections"][0]
    assert (finance.title, finance.count) == ("finance", 2)
    assert [a.title for a in finance.artifacts] == ["Revenue by category", "Refunds"]
    sources = {s.title: s.count for s in response.context["source_sections"]}
    assert sources == {"marketplace": 3, "other_source": 1}
    assert [a.title for a in response.context["templates"]] == ["Top N"]
    assert "1 verified artifact." in page


def test_library_search_finds_a_word_of_the_sql_verified_first(library, owner_client):
    response = owner_client.get(LIBRARY_URL, {"q": "category"})
    assert [a.title for a in response.context["results"]["artifacts"]] == ["Revenue by category"]
    response = owner_client.get(LIBRARY_URL, {"tag": "finance"})
    titles = [a.title for a in response.context["results"]["artifacts"]]
    assert titles == ["Revenue by category", "Refunds"]
    response = owner_client.get(LIBRARY_URL, {"tag": ["finance", "support"]})
    assert [a.title for a in response.context["results"]["artifacts"]] == ["Refunds"]
    response = owner_client.get(LIBRARY_URL, {"verified": "on"})
    assert [a.title for a in response.context["results"]["artifacts"]] == ["Revenue by category"]
    response = owner_client.get(LIBRARY_URL, {"q": "secret"})
    assert response.context["results"]["artifacts"] == []


def test_library_htmx_answers_with_the_results_only(library, owner_client):
    response = owner_client.get(LIBRARY_URL, {"q": "refunds"}, headers=HTMX)
    content = response.content.decode()
    assert "<html" not in content and 'id="library-results"' in content and "Refunds" in content


def test_library_bad_input_is_not_an_error(library, owner_client):
    for params in ({"q": "x" * 500}, {"tag": "y" * 80}, {"q": '"*'}, {"verified": "maybe"}):
        assert owner_client.get(LIBRARY_URL, params).status_code == 200


def test_library_of_other_personas(library, client, staff, other_user):
    client.force_login(other_user)
    page = client.get(LIBRARY_URL).content.decode()
    assert "Secret revenue" in page and "Refunds" not in page
    client.force_login(staff)
    assert client.get(LIBRARY_URL).status_code == 200


@pytest.mark.parametrize("rows", [1, 4])
def test_library_queries_do_not_grow_with_rows(owner, owner_client, rows, assert_get_queries):
    for i in range(rows * 5):
        artifact = ArtifactFactory(owner=owner, data_source="marketplace" if i % 2 else "other")
        artifact.set_tags([f"tag{i % 3}", "all"])
        if i % 2:
            artifact.verify(owner, "Q?")
    assert_get_queries(owner_client, LIBRARY_URL, most=14)
    assert_get_queries(owner_client, f"{LIBRARY_URL}?q=orders&tag=all", most=10)


def test_artifact_list_tag_chips_filter(owner, other_user, owner_client):
    ArtifactFactory(owner=owner, title="Tagged").set_tags(["finance"])
    ArtifactFactory(owner=owner, title="Untagged")
    ArtifactFactory(owner=other_user, title="Theirs").set_tags(["theirtag"])
    url = reverse("llm_artifact:artifact_list")
    page = owner_client.get(url).content.decode()
    assert 'id="artifact-tag-chips"' in page and "finance" in page and "theirtag" not in page
    response = owner_client.get(url, {"tag": "FINANCE"})
    assert [a.title for a in response.context["page_obj"]] == ["Tagged"]
    assert owner_client.get(url, {"tag": "x" * 80}).status_code == 200


def test_group_viewer_finds_what_is_shared_with_the_group(
    library, owner, client, analysts, group_viewer, outsider
):
    refunds = Artifact.objects.get(title="Refunds")
    share_with(refunds, analysts)
    client.force_login(group_viewer)
    response = client.get(LIBRARY_URL, {"q": "refunds"})
    assert [a.title for a in response.context["results"]["artifacts"]] == ["Refunds"]
    assert "Revenue by category" not in client.get(LIBRARY_URL).content.decode()
    client.force_login(outsider)
    assert client.get(LIBRARY_URL, {"q": "refunds"}).context["results"]["artifacts"] == []
