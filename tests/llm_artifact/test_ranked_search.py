"""Ranked full-text search (ArtifactQuerySet.ranked_search): FTS5 on SQLite, a GIN-indexed
tsvector on PostgreSQL. The suite runs on both (CI runs it again with DATABASE_URL on
PostgreSQL); the tests below hold on either engine."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from apps.llm_artifact.models import Artifact
from apps.llm_artifact.search import repair_sqlite_triggers
from tests.llm_artifact.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

API_URL = reverse("api:artifact-list")
PAGE_URL = reverse("llm_artifact:artifact_list")


def titles(q: str, queryset=None) -> list[str]:
    queryset = Artifact.objects.all() if queryset is None else queryset
    return [a.title for a in queryset.ranked_search(q)]


@pytest.fixture
def library(owner):
    ArtifactFactory(
        owner=owner,
        title="Revenue by category",
        question="How much did each category sell last month?",
        sql_query="SELECT c.name, SUM(o.total) AS revenue FROM orders o JOIN categories c "
        "ON c.id = o.category_id GROUP BY c.name",
        description="Monthly revenue.",
    )
    ArtifactFactory(
        owner=owner,
        title="Orders by status",
        sql_query="SELECT status, COUNT(*) FROM orders GROUP BY status",
        description="Where the revenue stands.",
    )
    ArtifactFactory(
        owner=owner,
        title="Top sellers",
        sql_query="SELECT s.name, AVG(r.rating) FROM sellers s JOIN reviews r ON 1 = 1",
        description="Sellers ranked by their reviews' rating.",
    )


def test_finds_a_word_of_the_sql(library):
    assert titles("categories") == ["Revenue by category"]
    # o.total is the words o and total: either finds it.
    assert titles("total") == ["Revenue by category"]
    assert titles("o.total") == ["Revenue by category"]
    # An identifier with an underscore is its words.
    assert titles("category_id") == ["Revenue by category"]


def test_the_agents_lookup_takes_any_word_each_a_prefix(library):
    """ranked_by_words (the agent's library): a question's words need not all be in one
    artifact, each matches the start of a word, and a title outranks a description."""
    found = [a.title for a in Artifact.objects.ranked_by_words(["revenu", "categor"])]
    assert found[0] == "Revenue by category"
    assert set(found) == {"Revenue by category", "Orders by status"}
    assert [a.title for a in Artifact.objects.ranked_by_words(["rating", "nothing"])] == [
        "Top sellers"
    ]
    assert list(Artifact.objects.ranked_by_words([])) == []
    # Typed text is never query syntax.
    assert list(Artifact.objects.ranked_by_words(['"', "OR", "*", "':*|"])) is not None


def test_every_word_must_match_in_any_field(library):
    assert sorted(titles("revenue orders")) == ["Orders by status", "Revenue by category"]
    assert titles("revenue sellers") == []
    assert titles("month sell") == ["Revenue by category"]  # question and prefix


def test_the_last_word_may_be_the_start_of_a_word(library):
    assert sorted(titles("sell")) == ["Revenue by category", "Top sellers"]  # sell, sellers
    # Only the last word is a prefix.
    assert titles("categ revenue") == []
    assert titles("revenue categ") == ["Revenue by category"]


def test_any_case_and_quoted_phrases(library):
    assert titles("REVENUE BY CATEGORY") == ["Revenue by category"]
    assert titles('"by status"') == ["Orders by status"]
    assert titles('"status by"') == []


def test_a_title_match_ranks_before_a_description_match(library):
    # "revenue" is in the first title and only in the second's description.
    assert titles("revenue") == ["Revenue by category", "Orders by status"]
    ranks = [a.search_rank for a in Artifact.objects.ranked_search("revenue")]
    assert ranks[0] > ranks[1]


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "'",
        "*",
        "revenue OR status",
        "NEAR(revenue status)",
        "revenue AND NOT status",
        "title:revenue",
        "revenue:*",
        "!revenue & status | x",
        "\\'; DROP TABLE x; --",
        "(((",
        "^revenue",
        "réveNUE",
    ],
)
def test_syntax_in_the_input_is_text_never_an_error(library, q):
    found = titles(q)
    # Operators are words like any other (or punctuation, which separates words).
    if q in {"revenue OR status", "revenue AND NOT status"}:
        assert found == []
    assert isinstance(found, list)


def test_punctuation_only_returns_everything_unranked(library):
    assert len(titles("*")) == 3
    assert len(titles("   ")) == 3


def test_the_index_follows_changes_and_deletions(library):
    artifact = Artifact.objects.get(title="Top sellers")
    artifact.sql_query = "SELECT name FROM warehouses"
    artifact.save()
    assert titles("warehouses") == ["Top sellers"]
    assert titles("reviews") == ["Top sellers"]  # still in its description
    Artifact.objects.filter(pk=artifact.pk).update(description="none")
    assert titles("reviews") == []
    artifact.delete()
    assert titles("warehouses") == []
    # A run's statistics are not searched and leave the index alone.
    Artifact.objects.update(execution_count=5)
    assert titles("categories") == ["Revenue by category"]


def test_other_users_artifacts_stay_out_of_their_search(library, owner, other_user):
    ArtifactFactory(owner=other_user, title="Revenue of the other user")
    mine = Artifact.objects.visible_to(owner)
    assert sorted(titles("revenue", mine)) == ["Orders by status", "Revenue by category"]
    assert titles("revenue", Artifact.objects.visible_to(other_user)) == [
        "Revenue of the other user"
    ]


def test_list_page_and_api_rank_best_first(library, owner, client, owner_api):
    client.force_login(owner)
    page = client.get(PAGE_URL, {"q": "revenue"}).context["page_obj"]
    assert [a.title for a in page] == ["Revenue by category", "Orders by status"]
    api = owner_api.get(API_URL, {"search": "revenue"}).json()["results"]
    assert [a["title"] for a in api] == ["Revenue by category", "Orders by status"]
    # A chosen sort still applies to the matches.
    page = client.get(PAGE_URL, {"q": "revenue", "sort": "title"}).context["page_obj"]
    assert [a.title for a in page] == ["Orders by status", "Revenue by category"]
    api = owner_api.get(API_URL, {"search": "revenue", "ordering": "title"}).json()["results"]
    assert [a["title"] for a in api] == ["Orders by status", "Revenue by category"]


def test_admin_search_uses_the_index(library, staff, client):
    client.force_login(staff)
    url = reverse("admin:llm_artifact_artifact_changelist")
    result = client.get(url, {"q": "o.total"}).context["cl"].result_list
    assert [a.title for a in result] == ["Revenue by category"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers")
def test_triggers_dropped_by_a_table_rebuild_are_put_back(library):
    with connection.cursor() as cursor:
        for suffix in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER llm_artifact_artifact_fts_{suffix}")
    ArtifactFactory(title="Made while the triggers were gone", sql_query="SELECT 1 FROM gone")
    assert repair_sqlite_triggers(connection) is True
    assert titles("gone") == ["Made while the triggers were gone"]
    assert repair_sqlite_triggers(connection) is False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's GIN index")
def test_postgresql_reads_the_gin_index(library):
    queryset = Artifact.objects.ranked_search("revenue")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("RESET enable_seqscan")
    assert "artifact_search_gin" in plan
