"""The sharing rule, written as querysets and as predicates, says the same thing everywhere.

Over generated worlds (users staff or not in 0-3 groups; artifacts and chats with an owner,
a visibility and shares to view or edit; data sources granted to groups or open; agents
limited to groups or not), for every user and anonymous:

- `Artifact.objects.visible_to(u)` / `editable_by(u)` hold exactly the artifacts for which
  `u.has_perm("artifacts.view" / "artifacts.change", a)` and the one-row methods say yes;
  `artifacts.delete` and `artifacts.share` are the owner's and staff's among those;
- `in_scope(u, scope)` for every scope holds what the scope's definition says, computed here
  from the generated world rather than from the code under test;
- a list's pages (apps.core.pagination, which reads a page as the UNION of the rule's
  branches) hold the same rows in the same order as the queryset read in one piece;
- the same for chats (`chats.view`, `chats.post`, `chats.delete`) and for
  `Agent.objects.usable_by` against `agents.use`.

Few, small, derandomized examples, each in a savepoint rolled back at its end.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.accounts.sharing import Scope, Visibility
from apps.core.pagination import IdsFirstPaginator
from apps.datasources.models import DataSourceGrant, DataSourcePolicy
from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact, ArtifactShare
from apps.llm_chat.models import Chat, ChatShare
from tests.conftest import UserFactory
from tests.llm_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    # A failure is shown as found: shrinking worlds of rows takes minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

GROUPS = 3
SOURCES = ("marketplace", "finance")
VISIBILITIES = st.sampled_from(Visibility.values)
GROUP_SET = st.frozensets(st.integers(0, GROUPS - 1), max_size=GROUPS)
# Sort orders of the list page and the API: a plain column, one that may be empty, a join.
ORDERINGS = [("-updated_at",), ("title",), ("-last_executed_at",), ("agent__name",)]


@dataclass
class World:
    users: list[tuple[bool, frozenset[int]]]  # (is_staff, groups)
    grants: dict[str, frozenset[int]]  # source -> groups granted it (none: open)
    # (owner, visibility, {group: can_edit}, source, runs, agent)
    artifacts: list[tuple[int, str, dict[int, bool], str, int, int | None]]
    chats: list[tuple[int, str, frozenset[int]]]  # (owner, visibility, groups)
    agents: list[tuple[frozenset[int], str]]  # (groups, source)
    ordering: tuple[str, ...]  # the artifact list's sort


@st.composite
def worlds(draw) -> World:
    users = draw(st.lists(st.tuples(st.booleans(), GROUP_SET), min_size=1, max_size=4))
    owners = st.integers(0, len(users) - 1)
    grants = {source: draw(GROUP_SET) for source in SOURCES}
    agents = draw(st.lists(st.tuples(GROUP_SET, st.sampled_from(SOURCES)), max_size=3))
    agent_index = st.none() | st.integers(0, len(agents) - 1) if agents else st.none()
    shares = st.dictionaries(st.integers(0, GROUPS - 1), st.booleans(), max_size=GROUPS)
    artifacts = draw(
        st.lists(
            st.tuples(
                owners,
                VISIBILITIES,
                shares,
                st.sampled_from(SOURCES),
                st.integers(0, 2),
                agent_index,
            ),
            max_size=7,
        )
    )
    chats = draw(st.lists(st.tuples(owners, VISIBILITIES, GROUP_SET), max_size=4))
    return World(users, grants, artifacts, chats, agents, draw(st.sampled_from(ORDERINGS)))


def _build(world: World):
    groups = [Group.objects.create(name=f"group {n}") for n in range(GROUPS)]
    users = []
    for n, (is_staff, member_of) in enumerate(world.users):
        user = UserFactory(username=f"person{n}", is_staff=is_staff)
        user.groups.set([groups[g] for g in member_of])
        users.append(user)
    for source, granted in world.grants.items():
        if granted:
            policy = DataSourcePolicy.objects.create(source=source)
            for g in granted:
                DataSourceGrant.objects.create(policy=policy, group=groups[g])
    agents = []
    for n, (limited_to, source) in enumerate(world.agents):
        agent = AgentFactory(name=f"Agent {n}", data_source=source)
        agent.groups.set([groups[g] for g in limited_to])
        agents.append(agent)
    artifacts = []
    for n, (owner, visibility, shares, source, runs, agent) in enumerate(world.artifacts):
        artifact = Artifact.objects.create(
            title=f"Artifact {n % 3}",  # ties, so the id tie-break matters
            sql_query="SELECT 1",
            data_source=source,
            owner=users[owner],
            visibility=visibility,
            execution_count=runs,
            agent=agents[agent] if agent is not None else None,
        )
        if runs:
            Artifact.objects.filter(pk=artifact.pk).update(last_executed_at=artifact.created_at)
        for g, can_edit in shares.items():
            ArtifactShare.objects.create(artifact=artifact, group=groups[g], can_edit=can_edit)
        artifacts.append(artifact)
    chat_agent = AgentFactory(name="Chat agent")
    chats = []
    for owner, visibility, shared_with in world.chats:
        chat = Chat.objects.create(
            title="Chat", agent=chat_agent, owner=users[owner], visibility=visibility
        )
        for g in shared_with:
            ChatShare.objects.create(chat=chat, group=groups[g])
        chats.append(chat)
    # As lists load them: with their shares, which the one-row rule reads.
    artifacts = list(Artifact.objects.with_shares().filter(pk__in=[a.pk for a in artifacts]))
    chats = list(Chat.objects.with_shares().filter(pk__in=[c.pk for c in chats]))
    return users, artifacts, chats, [*agents, chat_agent]


def _fresh(user):
    """The user as a new request would load it: nothing cached on the object."""
    return type(user).objects.get(pk=user.pk) if user.is_authenticated else AnonymousUser()


def _pks(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def _shared_with_groups(row, groups: frozenset[int], group_ids: list[int]) -> bool:
    """Whether `row` is shared with one of the groups (by the world's indexes) and not private."""
    if row.visibility == Visibility.PRIVATE:
        return False
    return any(share.group_id in {group_ids[g] for g in groups} for share in row.shares.all())


def _expected_scope(scope: str, user, member_of, rows, may_see, group_ids) -> set[int]:
    """What a list's scope holds, by its definition (apps.accounts.sharing.Scope)."""
    mine = {r.pk for r in rows if r.owner_id == user.pk and may_see(r)}
    everyone = {
        r.pk
        for r in rows
        if r.owner_id != user.pk and r.visibility == Visibility.EVERYONE and may_see(r)
    }
    shared = everyone | {
        r.pk
        for r in rows
        if r.owner_id != user.pk and _shared_with_groups(r, member_of, group_ids) and may_see(r)
    }
    if scope == Scope.MINE:
        return mine
    if scope == Scope.EVERYONE:
        return everyone
    if scope == Scope.SHARED:
        return shared
    if scope == Scope.ALL and user.is_staff:
        return {r.pk for r in rows}
    return mine | shared


def _paged_pks(queryset, per_page: int) -> list[int]:
    """Every row of a list, page by page, as the list page and the API read them."""
    paginator = IdsFirstPaginator(queryset, per_page, count_limit=3)
    pks, number = [], 1
    while True:
        page = paginator.page(number)
        pks += [row.pk for row in page.object_list]
        if not page.has_next():
            return pks
        number += 1


def _check_artifacts(user, member_of, artifacts, group_ids, ordering) -> None:
    every = Artifact.objects.all()
    by_perm = {a.pk for a in artifacts if user.has_perm("artifacts.view", a)}
    assert _pks(every.visible_to(user)) == by_perm
    assert {a.pk for a in artifacts if a.is_visible_to(user)} == by_perm
    assert {a.pk for a in artifacts if user.has_perm("artifacts.run", a)} == by_perm
    editable = {a.pk for a in artifacts if user.has_perm("artifacts.change", a)}
    assert _pks(every.editable_by(user)) == editable
    assert {a.pk for a in artifacts if a.is_editable_by(user)} == editable
    assert editable <= by_perm
    # Delete, share and transfer: only the owner and staff, of what they may see.
    managed = {
        a.pk for a in artifacts if a.pk in by_perm and (user.is_staff or a.owner_id == user.pk)
    }
    assert {a.pk for a in artifacts if user.has_perm("artifacts.delete", a)} == managed
    assert {a.pk for a in artifacts if user.has_perm("artifacts.share", a)} == managed
    if not user.is_authenticated:
        assert not by_perm
        return
    may_see = lambda a: a.pk in by_perm  # noqa: E731
    for scope in Scope.values:
        in_scope = every.in_scope(user, scope)
        expected = _expected_scope(scope, user, member_of, artifacts, may_see, group_ids)
        assert _pks(in_scope) == expected, scope
        listed = in_scope.sorted_by(*ordering)
        assert _paged_pks(listed, per_page=2) == list(listed.values_list("pk", flat=True))


def _check_chats(user, member_of, chats, group_ids) -> None:
    every = Chat.objects.all()
    by_perm = {c.pk for c in chats if user.has_perm("chats.view", c)}
    assert _pks(every.visible_to(user)) == by_perm
    assert {c.pk for c in chats if c.is_visible_to(user)} == by_perm
    # Shared chats are read-only: writing and managing stay the owner's (and staff's).
    owned = {c.pk for c in chats if user.is_authenticated and c.owner_id == user.pk}
    assert {c.pk for c in chats if user.has_perm("chats.post", c)} == owned
    managed = owned | ({c.pk for c in chats} if user.is_staff else set())
    assert _pks(every.editable_by(user)) == managed
    # Deleting a chat is its owner's alone, as posting in it is (staff use the admin).
    assert {c.pk for c in chats if user.has_perm("chats.delete", c)} == owned
    assert {c.pk for c in chats if user.has_perm("chats.share", c)} == managed
    if not user.is_authenticated:
        return
    may_see = lambda c: c.pk in by_perm  # noqa: E731
    for scope in Scope.values:
        in_scope = every.in_scope(user, scope)
        expected = _expected_scope(scope, user, member_of, chats, may_see, group_ids)
        assert _pks(in_scope) == expected, scope
        assert _paged_pks(in_scope, per_page=1) == list(in_scope.values_list("pk", flat=True))


def _check_agents(user, agents) -> None:
    usable = {a.pk for a in agents if user.has_perm("agents.use", a)}
    assert _pks(Agent.objects.usable_by(user)) == usable
    assert {a.pk for a in agents if a.is_usable_by(user)} == usable


@PROPERTY_SETTINGS
@given(world=worlds())
def test_querysets_and_permissions_agree(world: World):
    with transaction.atomic():
        users, artifacts, chats, agents = _build(world)
        group_ids = list(Group.objects.order_by("name").values_list("pk", flat=True))
        personas = [(user, world.users[n][1]) for n, user in enumerate(users)]
        for user, member_of in [*personas, (AnonymousUser(), frozenset())]:
            _check_artifacts(_fresh(user), member_of, artifacts, group_ids, world.ordering)
            _check_chats(_fresh(user), member_of, chats, group_ids)
            _check_agents(_fresh(user), agents)
        transaction.set_rollback(True)
