"""The artifact list and the API list cost about the same for a user with many artifacts.

The chat filter lists a few chats rather than all of them, the list counts only up to a
limit ("more than N"), deep pages read their rows by id, and the query count does not grow
with the data. bench/scale.py measures the times; these tests pin the behaviour.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import reverse

from apps.core.pagination import CountedToLimitPaginator, branches_of
from apps.llm_artifact import views
from apps.llm_artifact.forms import CHAT_CHOICES_SHOWN, ArtifactFilterForm
from apps.llm_artifact.models import Artifact, ArtifactRun, sql_digest
from tests.llm_artifact.factories import ArtifactFactory
from tests.llm_chat.factories import ChatFactory

pytestmark = pytest.mark.django_db

PAGE_URL = reverse("llm_artifact:artifact_list")
OPTIONS_URL = reverse("llm_artifact:artifact_chat_options")
API_URL = reverse("api:artifact-list")
HTMX = {"HX-Request": "true"}


def titles(response) -> list[str]:
    return re.findall(r'class="fw-semibold artifact-link">([^<]+)</a>', response.content.decode())


def chat_options(html: str) -> list[str]:
    select = re.search(r'<select name="chat".*?</select>', html, re.S)
    return re.findall(r"<option[^>]*>([^<]*)</option>", select.group(0) if select else html)


def _chats_with_artifacts(owner, count: int, prefix: str = "Chat") -> list:
    chats = [ChatFactory(owner=owner, title=f"{prefix} {n:02}") for n in range(count)]
    for chat in chats:
        ArtifactFactory(owner=owner, chat=chat)
    return chats


# --- the chat filter ---------------------------------------------------------------------------


def test_chat_filter_lists_a_few_recent_chats_not_all(owner_client, owner):
    chats = _chats_with_artifacts(owner, CHAT_CHOICES_SHOWN + 5)
    ChatFactory(owner=owner, title="Chat without artifacts")

    options = chat_options(owner_client.get(PAGE_URL).content.decode())

    assert options[0] == "Any chat"
    assert len(options) == 1 + CHAT_CHOICES_SHOWN
    # The most recently active chats (the factory creates them in order).
    assert options[1] == chats[-1].title
    assert "Chat without artifacts" not in options


def test_an_old_chosen_chat_is_listed_and_selected(owner_client, owner):
    oldest = _chats_with_artifacts(owner, CHAT_CHOICES_SHOWN + 5)[0]

    response = owner_client.get(PAGE_URL, {"chat": oldest.pk})
    content = response.content.decode()

    assert f'<option value="{oldest.pk}" selected>{oldest.title}</option>' in content
    assert len(titles(response)) == 1


def test_find_a_chat_narrows_the_choices_without_javascript(owner_client, owner, other_user):
    _chats_with_artifacts(owner, CHAT_CHOICES_SHOWN + 5)
    wanted = ChatFactory(owner=owner, title="Refund investigation")
    ArtifactFactory(owner=owner, chat=wanted, title="Refunds by week")
    theirs = ChatFactory(owner=other_user, title="Refund secrets")
    ArtifactFactory(owner=other_user, chat=theirs)

    content = owner_client.get(PAGE_URL, {"chat_q": "refund"}).content.decode()

    assert chat_options(content) == ["Any chat", "Refund investigation"]
    # Finding a chat only changes the choices, not the list.
    assert "Refunds by week" in content
    assert 'name="chat_q"' in content and 'value="refund"' in content


def test_chat_options_endpoint_answers_htmx_with_matching_options(owner_client, owner, other_user):
    chosen = ChatFactory(owner=owner, title="Cohorts")
    ArtifactFactory(owner=owner, chat=chosen)
    wanted = ChatFactory(owner=owner, title="Refund investigation")
    ArtifactFactory(owner=owner, chat=wanted)
    ArtifactFactory(owner=other_user, chat=ChatFactory(owner=other_user, title="Refund secrets"))

    response = owner_client.get(OPTIONS_URL, {"chat_q": "REFUND", "chat": chosen.pk}, headers=HTMX)
    content = response.content.decode()

    assert response.status_code == 200
    assert "<html" not in content
    # The chosen chat stays (selected), so the select keeps saying what the list shows.
    assert chat_options(content) == ["Any chat", "Cohorts", "Refund investigation"]
    assert f'<option value="{chosen.pk}" selected>' in content
    assert "secrets" not in content


def test_chat_options_answer_another_users_chat_like_a_missing_one(owner_client, other_user):
    theirs = ChatFactory(pk=765_432, owner=other_user, title="Their chat")
    ArtifactFactory(owner=other_user, chat=theirs)

    foreign = owner_client.get(OPTIONS_URL, {"chat": theirs.pk})
    missing = owner_client.get(OPTIONS_URL, {"chat": 999_999})

    assert foreign.status_code == missing.status_code == 200
    assert foreign.content == missing.content
    assert chat_options(foreign.content.decode()) == ["Any chat"]


def test_chat_options_need_a_signed_in_user(client):
    response = client.get(OPTIONS_URL)
    assert response.status_code == 302


def test_the_search_box_is_wired_to_the_options_endpoint(owner_client, owner):
    content = owner_client.get(PAGE_URL).content.decode()
    search = re.search(r'<input type="search" name="chat_q"[^>]*>', content).group(0)
    assert f'hx-get="{OPTIONS_URL}"' in search
    assert 'hx-target="#id_chat"' in search
    assert 'hx-push-url="false"' in search


# --- counting and pages ------------------------------------------------------------------------


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 4, counted up to 5: the list's behaviour past its count limit, on few rows."""
    monkeypatch.setattr(views, "ARTIFACTS_PER_PAGE", 4)
    monkeypatch.setattr(views, "ARTIFACTS_COUNTED", 5)


def _numbered(owner, count: int) -> None:
    for n in range(count):
        ArtifactFactory(owner=owner, title=f"Artifact {n:02}")


def test_a_long_list_says_more_than_instead_of_counting(owner_client, owner, small_pages):
    _numbered(owner, 13)

    first = owner_client.get(PAGE_URL, {"sort": "title"})
    content = first.content.decode()

    assert "More than 5 artifacts" in content
    assert "Page 1</span>" in content  # no "of N": the total was not counted
    assert titles(first) == [f"Artifact {n:02}" for n in range(4)]
    assert 'href="/artifacts/?sort=title&amp;page=2"' in content


def test_pages_past_the_count_limit_stay_reachable(owner_client, owner, small_pages):
    _numbered(owner, 13)

    third = owner_client.get(PAGE_URL, {"sort": "title", "page": 3})
    last = owner_client.get(PAGE_URL, {"sort": "title", "page": 4})

    assert titles(third) == [f"Artifact {n:02}" for n in range(8, 12)]
    assert 'page=4"' in third.content.decode()
    assert titles(last) == ["Artifact 12"]
    assert "Page 4</span>" in last.content.decode()
    assert '<span class="page-link">Next</span>' in last.content.decode()
    assert 'page=3"' in last.content.decode()


def test_a_page_past_the_end_shows_the_last_page(owner_client, owner, small_pages):
    _numbered(owner, 13)
    response = owner_client.get(PAGE_URL, {"sort": "title", "page": 99})
    assert response.status_code == 200
    assert titles(response) == ["Artifact 12"]
    assert "Page 4 of 4" in response.content.decode()


def test_a_short_list_is_counted_exactly(owner_client, owner, small_pages):
    _numbered(owner, 5)
    content = owner_client.get(PAGE_URL).content.decode()
    assert "5 artifacts" in content
    assert "More than" not in content
    assert "Page 1 of 2" in content


@pytest.mark.parametrize("page", [1, 3])
def test_list_page_queries_do_not_grow_with_artifacts(
    owner_client, owner, small_pages, assert_get_queries, page
):
    _chats_with_artifacts(owner, 4)
    url = f"{PAGE_URL}?page={page}&chat_q=chat"
    # 8 before the tag chips (one query, bounded to the 20 most used tags).
    assert_get_queries(owner_client, url, most=9)
    _chats_with_artifacts(owner, 30, prefix="More")
    _numbered(owner, 20)
    assert_get_queries(owner_client, url, most=9)


def _share_with(group, owner, count: int, visibility: str = "groups") -> None:
    from apps.llm_artifact.models import ArtifactShare

    for n in range(count):
        artifact = ArtifactFactory(owner=owner, title=f"Shared {n:02}", visibility=visibility)
        ArtifactShare.objects.create(artifact=artifact, group=group, can_edit=n % 2 == 0)


@pytest.mark.parametrize("page", [1, 3])
def test_list_page_queries_do_not_grow_with_shares(
    owner_client, owner, other_user, small_pages, assert_get_queries, page
):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="analysts")
    owner.groups.add(team)
    _numbered(owner, 3)
    _share_with(team, other_user, 10)
    url = f"{PAGE_URL}?page={page}"
    assert_get_queries(owner_client, url, most=9)
    _share_with(team, other_user, 30)
    _share_with(team, other_user, 10, visibility="everyone")
    assert_get_queries(owner_client, url, most=9)


@pytest.mark.parametrize("page", [1, 2])
def test_api_list_queries_do_not_grow_with_shares(
    owner_api, owner, other_user, django_assert_max_num_queries, page
):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="analysts")
    owner.groups.add(team)
    _share_with(team, other_user, 30)
    # The count, the page's ids, its rows, their shares (for `shares`), and once a request
    # the user's groups and the data-source grants (for `can_edit` / `can_manage`), and the
    # page's tags.
    with django_assert_max_num_queries(7):
        response = owner_api.get(API_URL, {"page": page, "ordering": "-execution_count"})
    assert len(response.json()["results"]) == (25 if page == 1 else 5)
    _share_with(team, other_user, 40, visibility="everyone")
    with django_assert_max_num_queries(7):
        assert owner_api.get(API_URL, {"page": page}).status_code == 200


def test_chat_options_queries_do_not_grow_with_chats(owner_client, owner, assert_get_queries):
    chats = _chats_with_artifacts(owner, 3)
    url = f"{OPTIONS_URL}?chat_q=chat&chat={chats[0].pk}"
    assert_get_queries(owner_client, url, most=6)
    _chats_with_artifacts(owner, 40, prefix="Chat more")
    assert_get_queries(owner_client, url, most=6)


# --- the API list ------------------------------------------------------------------------------


def test_api_deep_pages_keep_the_order_and_the_chart_check(owner_api, owner):
    columns = [{"name": "month", "type": "text"}]
    chart = {"mark": "bar", "encoding": {"x": {"field": "gone", "type": "nominal"}}}
    for n in range(30):
        artifact = ArtifactFactory(owner=owner, title=f"Artifact {n:02}")
        if n == 27:
            Artifact.objects.filter(pk=artifact.pk).update(visualization_config=chart)
            ArtifactRun.objects.create(
                artifact=artifact,
                outcome="ok",
                data_source=artifact.data_source,
                columns=columns,
                sql_digest=sql_digest(artifact.sql_query),
            )

    first = owner_api.get(API_URL, {"ordering": "title", "page_size": 25}).json()
    second = owner_api.get(API_URL, {"ordering": "title", "page_size": 25, "page": 2}).json()

    assert first["count"] == second["count"] == 30
    expected = [f"Artifact {n:02}" for n in range(25, 30)]
    assert [row["title"] for row in second["results"]] == expected
    problems = {row["title"]: row["visualization_problems"] for row in second["results"]}
    # The chart's check against the latest run is computed for the rows a deep page shows.
    assert {p["severity"] for p in problems["Artifact 27"]} == {"error"}
    assert any("gone" in p["message"] for p in problems["Artifact 27"])
    assert problems["Artifact 26"] == []


@pytest.mark.parametrize("page", [1, 2])
def test_api_list_queries_do_not_grow_with_artifacts(
    owner_api, owner, django_assert_max_num_queries, page
):
    # Charts are checked against each artifact's latest run: annotated, not a query a row.
    chart = {"mark": "bar", "encoding": {"x": {"field": "month", "type": "nominal"}}}
    for n in range(30):
        ArtifactFactory(owner=owner, title=f"Artifact {n:02}", visualization_config=chart)
    # Three for the page (count, ids, rows), then the page's shares and tags, and the requester's
    # groups and the data-source grants (once, for can_edit and can_manage).
    with django_assert_max_num_queries(7):
        response = owner_api.get(API_URL, {"page": page, "ordering": "-execution_count"})
    assert len(response.json()["results"]) == (25 if page == 1 else 5)
    _numbered(owner, 40)
    with django_assert_max_num_queries(7):
        assert owner_api.get(API_URL, {"page": page}).status_code == 200


@pytest.fixture
def api_counts_to_five(monkeypatch):
    monkeypatch.setattr(CountedToLimitPaginator, "count_limit", 5)


def test_api_counts_up_to_a_limit_then_says_null(owner_api, owner, api_counts_to_five):
    _numbered(owner, 5)
    assert owner_api.get(API_URL, {"page_size": 2}).json()["count"] == 5
    _numbered(owner, 8)

    first = owner_api.get(API_URL, {"page_size": 2, "ordering": "title"}).json()
    deep = owner_api.get(API_URL, {"page_size": 2, "ordering": "title", "page": 7}).json()

    assert first["count"] is None
    assert "page=2" in first["next"]
    assert [row["title"] for row in deep["results"]] == ["Artifact 07"]
    assert deep["next"] is None and "page=6" in deep["previous"]
    assert owner_api.get(API_URL, {"page_size": 2, "page": 8}).status_code == 404


def test_api_last_page_is_found_past_the_limit(owner_api, owner, api_counts_to_five):
    _numbered(owner, 13)
    last = owner_api.get(API_URL, {"page_size": 2, "ordering": "title", "page": "last"}).json()
    assert [row["title"] for row in last["results"]] == ["Artifact 12"]
    assert last["count"] == 13


def test_api_schema_says_the_count_may_be_null(owner_api):
    schema = owner_api.get(reverse("api-schema"), {"format": "json"}).json()
    page = schema["components"]["schemas"]["PaginatedArtifactList"]
    assert page["properties"]["count"]["nullable"] is True


def _walk(client, url: str, params: dict) -> list[str]:
    """Every title, following `next` from the first cursor page."""
    titles, response = [], client.get(url, params).json()
    assert response["count"] is None and response["previous"] is None
    while True:
        titles += [row["title"] for row in response["results"]]
        if not response["next"]:
            return titles
        response = client.get(response["next"]).json()


@pytest.mark.parametrize("ordering", ["-execution_count", "title", "-updated_at", ""])
def test_api_cursor_pages_walk_the_list_like_page_numbers(owner_api, owner, ordering):
    for n in range(23):
        # Many ties: the id keeps them in one order from page to page.
        ArtifactFactory(owner=owner, title=f"Artifact {n:02}", execution_count=n % 3)
    params = {"page_size": 4, **({"ordering": ordering} if ordering else {})}

    by_cursor = _walk(owner_api, API_URL, {**params, "cursor": ""})
    by_number = [
        row["title"]
        for row in owner_api.get(API_URL, {**params, "page_size": 50}).json()["results"]
    ]

    assert by_cursor == by_number
    assert len(set(by_cursor)) == 23


def test_api_cursor_pages_refuse_an_ordering_with_empty_values(owner_api, owner):
    ArtifactFactory(owner=owner)
    response = owner_api.get(API_URL, {"cursor": "", "ordering": "-last_executed_at"})
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_api_bad_cursor_is_a_404_not_a_500(owner_api, owner):
    ArtifactFactory(owner=owner)
    assert owner_api.get(API_URL, {"cursor": "not-a-cursor"}).status_code == 404


def test_api_runs_take_cursor_pages_too(owner_api, owner):
    artifact = ArtifactFactory(owner=owner)
    for _ in range(5):
        ArtifactRun.objects.create(artifact=artifact, outcome="ok", data_source="marketplace")
    url = reverse("api:artifact-runs", args=[artifact.pk])
    first = owner_api.get(url, {"cursor": "", "page_size": 3}).json()
    second = owner_api.get(first["next"]).json()
    ids = [run["id"] for run in first["results"] + second["results"]]
    assert sorted(ids, reverse=True) == ids and len(set(ids)) == 5


def test_api_cursor_page_queries_do_not_grow(owner_api, owner, django_assert_max_num_queries):
    _numbered(owner, 12)
    first = owner_api.get(API_URL, {"cursor": "", "page_size": 4}).json()
    # The page's rows, their shares and their tags.
    with django_assert_max_num_queries(3):
        owner_api.get(first["next"])
    _numbered(owner, 40)
    first = owner_api.get(API_URL, {"cursor": "", "page_size": 4}).json()
    with django_assert_max_num_queries(3):
        owner_api.get(first["next"])


# --- indexes -----------------------------------------------------------------------------------
# What a user may see is an OR of their rows, everyone's and those shared with their groups, which
# no one index serves in order. A list reads each term as its own branch off its own index (the
# page is their UNION, apps.core.pagination.page_pks): these tests plan every branch of every
# scope, with no sort of all the rows (TEMP B-TREE) in any.


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _branch_plans(queryset) -> list[str]:
    """The plan of each branch's first page, as page_pks asks for it."""
    return [_plan(branch.values_list("pk")[:26]) for branch in branches_of(queryset) or [queryset]]


def _driving_index(plan: str) -> str:
    """The index the main table is read by (the first line naming the artifact table)."""
    line = next(line for line in plan.splitlines() if "llm_artifact_artifact " in line + " ")
    match = re.search(r"INDEX (\w+)", line)
    return match.group(1) if match else line


# Scope -> the indexes of its branches, in the order SharedQuerySet.in_scope names them, for the
# default sort; the sort's own index takes the place of "updated" for the others.
SCOPE_BRANCHES = {
    "": ["artifact_owner_{sort}", "artifact_visibility_{sort}", "artifact_visibility_{sort}"],
    "mine": ["artifact_owner_{sort}"],
    "shared": ["artifact_visibility_{sort}", "artifact_visibility_{sort}"],
    "everyone": ["artifact_visibility_{sort}"],
}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan format")
@pytest.mark.parametrize("scope", list(SCOPE_BRANCHES))
@pytest.mark.parametrize(
    ("params", "sort"),
    [({}, "updated"), ({"status": "failed"}, "status"), ({"sort": "-runs"}, "runs")],
)
def test_list_page_scopes_come_off_an_index_a_branch(owner, scope, params, sort):
    visible = Artifact.objects.in_scope(owner, scope)
    form = ArtifactFilterForm(params, artifacts=visible, user=owner)
    plans = _branch_plans(form.filter(visible.with_related()))
    expected = [index.format(sort=sort) for index in SCOPE_BRANCHES[scope]]
    assert [_driving_index(plan) for plan in plans] == expected
    assert not [plan for plan in plans if "TEMP B-TREE" in plan]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan format")
@pytest.mark.parametrize("scope", list(SCOPE_BRANCHES))
@pytest.mark.parametrize(
    ("ordering", "sort"),
    [(("-created_at",), "created"), (("-execution_count",), "runs"), (("-updated_at",), "updated")],
)
def test_api_orderings_come_off_an_index_a_branch(owner, scope, ordering, sort):
    listed = Artifact.objects.in_scope(owner, scope).with_last_result_columns().sorted_by(*ordering)
    plans = _branch_plans(listed)
    expected = [index.format(sort=sort) for index in SCOPE_BRANCHES[scope]]
    expected = [
        name.replace("artifact_owner_created", "artifact_owner_created_id") for name in expected
    ]
    assert [_driving_index(plan) for plan in plans] == expected
    assert not [plan for plan in plans if "TEMP B-TREE" in plan]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan format")
def test_the_shared_branch_reads_shares_through_their_index(owner):
    shared = branches_of(Artifact.objects.in_scope(owner, "shared"))[1]
    plan = _plan(shared.values_list("pk")[:26])
    # Read in order off the visibility index, each row probed in the shares by group and row:
    # not every share read and the rows they name sorted.
    assert _driving_index(plan) == "artifact_visibility_created"
    assert "CORRELATED SCALAR SUBQUERY" in plan
    # (the unique index on row and group, or the one on group and row: both are probes)
    probe = r"artifactshare\w* \((artifact_id=\? AND group_id|group_id=\? AND artifact_id)=\?\)"
    assert re.search(probe, plan), plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan format")
def test_staff_seeing_everything_reads_the_sort_index(staff):
    plan = _plan(Artifact.objects.in_scope(staff, "all").sorted_by("-execution_count")[:25])
    assert _driving_index(plan) == "artifact_execution_count"
    # Only rows with the same count are put in id order, not every row sorted.
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan


def test_the_default_list_and_its_pages_show_own_everyones_and_shared_rows(owner, other_user):
    from django.contrib.auth.models import Group

    from apps.llm_artifact.models import ArtifactShare

    team = Group.objects.create(name="analysts")
    owner.groups.add(team)
    mine = [ArtifactFactory(owner=owner, title=f"Mine {n}") for n in range(3)]
    everyone = [
        ArtifactFactory(owner=other_user, title=f"Everyone {n}", visibility="everyone")
        for n in range(3)
    ]
    shared = [
        ArtifactFactory(owner=other_user, title=f"Shared {n}", visibility="groups")
        for n in range(3)
    ]
    hidden = ArtifactFactory(owner=other_user, title="Private", visibility="private")
    for artifact in [*shared, hidden]:
        ArtifactShare.objects.create(artifact=artifact, group=team)
    listed = Artifact.objects.in_scope(owner, "").sorted_by("title")

    paginator = CountedToLimitPaginator(listed, 4)
    pages = [paginator.page(n) for n in (1, 2, 3)]

    titles = [row.title for page in pages for row in page.object_list]
    assert titles == sorted(a.title for a in [*mine, *everyone, *shared])
    assert paginator.count == 9 and not pages[2].has_next()


def _postgres_plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # The test tables are nearly empty, where a scan of the table is always cheapest: ask
        # for the plan PostgreSQL has for a large table, an index read in the list's order.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan format")
@pytest.mark.parametrize("scope", list(SCOPE_BRANCHES))
@pytest.mark.parametrize(
    ("params", "sort"),
    [({}, "updated"), ({"status": "failed"}, "status"), ({"sort": "-runs"}, "runs")],
)
def test_list_page_scopes_come_off_an_index_a_branch_on_postgres(owner, scope, params, sort):
    visible = Artifact.objects.in_scope(owner, scope)
    form = ArtifactFilterForm(params, artifacts=visible, user=owner)
    branches = branches_of(form.filter(visible)) or [form.filter(visible)]
    plans = [_postgres_plan(branch.values_list("pk")[:26]) for branch in branches]
    expected = [index.format(sort=sort) for index in SCOPE_BRANCHES[scope]]
    driving = [
        re.search(r"Index (?:Only )?Scan using (\w+) on llm_artifact_artifact", p) for p in plans
    ]
    assert [
        match.group(1) if match else plan for match, plan in zip(driving, plans, strict=True)
    ] == expected
    # No sort of the branch's rows: the index gives them in the list's order.
    assert not [plan for plan in plans if re.search(r"^\s*(->\s*)?Sort\b", plan, re.M)]
