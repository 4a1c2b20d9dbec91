"""One search rule and one sort rule (ArtifactQuerySet.search / .sorted_by): the list page,
its htmx partial, the API and the admin return the same artifacts in the same order."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.llm_artifact.admin import ArtifactAdmin
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

PAGE_URL = reverse("llm_artifact:artifact_list")
API_URL = reverse("api:artifact-list")
ADMIN_URL = reverse("admin:llm_artifact_artifact_changelist")


@pytest.fixture
def artifacts(staff):
    now = timezone.now()
    ArtifactFactory(owner=staff, title="Churn by month", description="monthly churn")
    ArtifactFactory(owner=staff, title="Never run churn", comment="churn, by hand")
    ArtifactFactory(
        owner=staff,
        title="Revenue",
        sql_query="SELECT 1 AS churn_by_region",
        execution_count=2,
    )
    ArtifactFactory(owner=staff, title="Orders")
    # Equal last-run times: the id decides, so pages neither repeat nor skip rows.
    for title in ("Churn run A", "Churn run B"):
        ArtifactFactory(owner=staff, title=title).__class__.objects.filter(title=title).update(
            last_executed_at=now - dt.timedelta(days=1)
        )
    ArtifactFactory(owner=staff, title="Recent churn").__class__.objects.filter(
        title="Recent churn"
    ).update(last_executed_at=now)


@pytest.fixture
def faces(client, staff, staff_api):
    client.force_login(staff)

    def page(params: dict) -> list[str]:
        return [a.title for a in client.get(PAGE_URL, params).context["page_obj"]]

    def partial(params: dict) -> list[str]:
        response = client.get(PAGE_URL, params, headers={"HX-Request": "true"})
        content = response.content.decode()
        assert "<html" not in content
        return [
            unescape(t) for t in re.findall(r'class="fw-semibold artifact-link">([^<]*)<', content)
        ]

    def api(params: dict) -> list[str]:
        return [a["title"] for a in staff_api.get(API_URL, params).json()["results"]]

    def admin(params: dict) -> list[str]:
        return [a.title for a in client.get(ADMIN_URL, params).context["cl"].result_list]

    return page, partial, api, admin


def admin_column(name: str) -> str:
    # The admin's ?o= is the 1-based index of the column in list_display.
    return str(ArtifactAdmin.list_display.index(name) + 1)


@pytest.mark.parametrize("q", ["churn", "CHURN by", '"churn by"', "region churn"])
def test_every_face_finds_the_same_artifacts(artifacts, faces, q):
    page, partial, api, admin = faces
    found = sorted(page({"q": q}))
    assert found
    assert sorted(partial({"q": q})) == found
    assert sorted(api({"search": q})) == found
    assert sorted(admin({"q": q})) == found


def test_search_words_may_sit_in_different_fields(artifacts, faces):
    page, _partial, api, _admin = faces
    # "month" is in the description, "churn" in the title.
    assert page({"q": "month churn"}) == api({"search": "month churn"}) == ["Churn by month"]


@pytest.mark.parametrize(
    ("page_sort", "api_ordering", "admin_field"),
    [
        ("last_run", "last_executed_at", "last_executed_at"),
        ("-last_run", "-last_executed_at", "last_executed_at"),
        ("title", "title", "title"),
        ("-runs", "-execution_count", "execution_count"),
    ],
)
def test_every_face_sorts_the_same_way(artifacts, faces, page_sort, api_ordering, admin_field):
    page, partial, api, admin = faces
    expected = page({"sort": page_sort})
    admin_order = ("-" if page_sort.startswith("-") else "") + admin_column(admin_field)
    assert partial({"sort": page_sort}) == expected
    assert api({"ordering": api_ordering}) == expected
    assert admin({"o": admin_order}) == expected
    if "last_run" in page_sort:
        # Never-run artifacts last in both directions; the id breaks the tie either way.
        assert expected[:3] in (
            ["Churn run A", "Churn run B", "Recent churn"],
            ["Recent churn", "Churn run B", "Churn run A"],
        )
