"""Sharing: who besides its owner may see or edit a row (an artifact, a chat).

The rule is written twice on purpose, in the two forms Django needs, side by side so they
cannot drift (a property test holds them to each other):

- as a queryset filter (`SharedQuerySet.visible_to` / `editable_by`) for lists, counts and
  lookups, which never load rows the user may not see;
- as predicates on one row in hand (`Shared.is_visible_to` / `is_editable_by`), which the
  `rules` permissions in each app's rules.py are built from.

The rule:
- anonymous users see nothing;
- staff (operators) may see and edit everything: the admin is theirs anyway; lists show them
  their own and shared rows unless they ask for everything (`scope=all`);
- the owner sees and edits their row;
- visibility `everyone`: every signed-in user sees it;
- visibility `groups` or `everyone`: the members of a group the row is shared with see it,
  and edit it when that share allows editing. A `private` row keeps its shares (switching it
  back to `groups` restores them) but they give nobody anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import Q
from django.db.models.sql.where import OR, WhereNode
from django.utils.translation import gettext_lazy as _


class Visibility(models.TextChoices):
    PRIVATE = "private", _("Private")
    GROUPS = "groups", _("Shared with groups")
    EVERYONE = "everyone", _("Everyone")


class Scope(models.TextChoices):
    """Which rows a list shows of those a user may see."""

    VISIBLE = "", _("Mine and shared with me")
    MINE = "mine", _("Mine")
    SHARED = "shared", _("Shared with me")
    EVERYONE = "everyone", _("Everyone's")
    # Staff only: every row, whoever owns it.
    ALL = "all", _("Everything (staff)")


def user_group_ids(user: Any) -> frozenset[int]:
    """The ids of the groups `user` belongs to, read once per user object (a request's)."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_sharing_group_ids", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("pk", flat=True))
        user._sharing_group_ids = cached
    return cached


class VisibleRowsWhere(WhereNode):
    """The OR of a visibility rule in a query's WHERE clause, marked so that a list's branch
    can leave it out: each branch has its own term in its place (SharedQuerySet.page_branches).
    Clones keep the class (WhereNode.clone creates its own type)."""


class SharedQuerySet(models.QuerySet):
    """visible_to / editable_by for a model with an owner, a visibility and share rows.

    A subclass names the path to the owner (`owner_lookup`) and the share model's reverse
    name (`shares_lookup`); the share model has `group` and `can_edit`.

    What a user may see is an OR (their rows, everyone's, those shared with their groups)
    that no one index serves in a list's order. So visible_to and in_scope also remember the
    OR's terms, and page_branches() gives the list one queryset per term, each off its own
    index (apps.core.pagination reads a page as their UNION): the same rows, which
    tests/test_sharing_properties.py checks.
    """

    owner_lookup: str = "owner"
    visibility_lookup: str = "visibility"
    shares_lookup: str = "shares"

    # The terms of the OR the rows were last filtered by (None: no such OR).
    _branch_terms: tuple[Q, ...] | None = None

    def _clone(self) -> Self:
        clone = super()._clone()
        clone._branch_terms = self._branch_terms
        return clone

    # A queryset ORed with another, or combined by UNION and the like, is no longer the OR
    # its terms describe.
    def __or__(self, other: Any) -> Self:
        combined = super().__or__(other)
        combined._branch_terms = None
        return combined

    def __xor__(self, other: Any) -> Self:
        combined = super().__xor__(other)
        combined._branch_terms = None
        return combined

    def _combinator_query(self, *args: Any, **kwargs: Any) -> Self:
        combined = super()._combinator_query(*args, **kwargs)
        combined._branch_terms = None
        return combined

    def _filter_any(self, *terms: Q, branches: tuple[Q, ...] | None = None) -> Self:
        """Rows matching any of `terms`. `branches` (the same rows, term by term, in a form
        that an index drives) are remembered for a list's pages."""
        either = Q()
        for term in terms:
            either |= term
        rows = self.filter(either)
        branches = branches or terms
        if len(branches) > 1:
            where = rows.query.where
            added = where.children[-1]
            if not where.negated and isinstance(added, WhereNode) and added.connector == OR:
                where.children[-1] = VisibleRowsWhere(added.children, OR, added.negated)
                rows._branch_terms = branches
        return rows

    def _one_piece(self) -> Self:
        rows = self._chain()
        rows._branch_terms = None
        return rows

    def page_branches(self) -> list[Self] | None:
        """One queryset per term of the visibility OR: the rows with the term in place of
        the OR, the term first (SQLite then checks what the index holds, such as the share
        probe, before it reads a row). Their union is this queryset's rows."""
        if not self._branch_terms:
            return None
        branches = []
        for term in self._branch_terms:
            rows = self._one_piece()
            before = len(rows.query.where.children)
            rows = rows.filter(term)
            where = rows.query.where
            others = [c for c in where.children[:before] if not isinstance(c, VisibleRowsWhere)]
            where.children = [*where.children[before:], *others]
            branches.append(rows)
        return branches

    def _shares_for(self, user: Any, *, edit: bool) -> tuple[models.QuerySet, str]:
        """The share rows that give `user` the row (to see, or to edit), and the name of
        their foreign key to the row. The user's groups are read by the database, not by one
        more query."""
        relation = self.model._meta.get_field(self.shares_lookup)
        memberships = user._meta.get_field("groups").remote_field.through.objects
        groups = memberships.filter(**{user._meta.model_name: user}).values("group_id")
        shares = relation.related_model._base_manager.filter(group__in=groups)
        if edit:
            shares = shares.filter(can_edit=True)
        return shares, relation.field.name

    def _shared_with(self, user: Any, *, edit: bool) -> Q:
        """Shared with a group of `user`'s and not private, asked of each row (a probe of the
        share index by row and group): what a page's few rows are checked with."""
        shares, row = self._shares_for(user, edit=edit)
        # EXISTS rather than a join: a row shared with two of the user's groups is one row.
        return ~Q(**{self.visibility_lookup: Visibility.PRIVATE}) & Q(
            models.Exists(shares.filter(**{row: models.OuterRef("pk")}))
        )

    def _shared_rows(self, user: Any, *, edit: bool) -> Q:
        """The rows shared with the user's groups that the "everyone" branch does not hold
        already: visibility `groups`, read in the list's order off the (visibility, sort)
        index, each probed in the share index by row and group until the page is full.

        (Reading the shares by group and sorting the rows they name costs as much as the
        user has shares: thousands of rows sorted for a page of 25. The visibility is one of
        Visibility's values, a CheckConstraint says so, so that private, groups and everyone
        are all there is.)
        """
        shares, row = self._shares_for(user, edit=edit)
        return Q(**{self.visibility_lookup: Visibility.GROUPS}) & Q(
            models.Exists(shares.filter(**{row: models.OuterRef("pk")}))
        )

    def _owner_is(self, user: Any) -> Q:
        return Q(**{self.owner_lookup: user})

    def _for_everyone(self) -> Q:
        return Q(**{self.visibility_lookup: Visibility.EVERYONE})

    def visible_to(self, user: Any) -> Self:
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        mine, everyone = self._owner_is(user), self._for_everyone()
        return self._filter_any(
            mine,
            everyone,
            self._shared_with(user, edit=False),
            branches=(mine, everyone, self._shared_rows(user, edit=False)),
        )

    def editable_by(self, user: Any) -> Self:
        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        # Not a list's rows (those are what the user may see): no branches.
        return self.filter(self._owner_is(user) | self._shared_with(user, edit=True))

    def owned_by(self, user: Any) -> Self:
        return self.filter(**{self.owner_lookup: user}) if user.is_authenticated else self.none()

    def in_scope(self, user: Any, scope: str) -> Self:
        """The rows of a list's scope (Scope) among those `user` may see.

        "Shared with me" is what others shared with the user's groups or with everyone;
        staff see only their own and shared rows unless the scope is "all".
        """
        if not user.is_authenticated:
            return self.none()
        # visible_to's OR stays in the WHERE clause (the subclass may add to it); each scope
        # then names its own branches, so a list reads each off its index.
        visible = self.visible_to(user)._one_piece()
        mine, everyone = self._owner_is(user), self._for_everyone()
        shared, shared_rows = (
            self._shared_with(user, edit=False),
            self._shared_rows(user, edit=False),
        )
        if scope == Scope.MINE:
            return visible.filter(mine)
        if scope == Scope.EVERYONE:
            return visible.filter(~mine & everyone)
        if scope == Scope.SHARED:
            return visible._filter_any(
                ~mine & everyone,
                ~mine & shared,
                branches=(~mine & everyone, ~mine & shared_rows),
            )
        if scope == Scope.ALL and user.is_staff:
            return visible
        # The default: for everyone but staff, the same rows as visible_to.
        return visible._filter_any(mine, everyone, shared, branches=(mine, everyone, shared_rows))


class Shared(models.Model):
    """The visibility field and the one-row form of SharedQuerySet's rule."""

    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )

    class Meta:
        abstract = True

    # The share rows' reverse accessor on the concrete model.
    shares_attribute = "shares"

    def _share_rows(self) -> list:
        # .all() uses a prefetch when the page made one (prefetch_related("shares__group")).
        return list(getattr(self, self.shares_attribute).all()) if self.pk else []

    def _shared_with(self, user: Any, *, edit: bool) -> bool:
        if self.visibility == Visibility.PRIVATE:
            return False
        groups = user_group_ids(user)
        return any(
            share.group_id in groups and (not edit or getattr(share, "can_edit", False))
            for share in self._share_rows()
        )

    def is_owned_by(self, user: Any) -> bool:
        return user.is_authenticated and self.owner_id == user.pk

    def is_visible_to(self, user: Any) -> bool:
        if not user.is_authenticated:
            return False
        return (
            user.is_staff
            or self.is_owned_by(user)
            or self.visibility == Visibility.EVERYONE
            or self._shared_with(user, edit=False)
        )

    def is_editable_by(self, user: Any) -> bool:
        if not user.is_authenticated:
            return False
        return user.is_staff or self.is_owned_by(user) or self._shared_with(user, edit=True)

    def can_manage(self, user: Any) -> bool:
        """Delete it, change its sharing, hand it to someone else: the owner (and staff,
        who can do as much in the admin)."""
        return user.is_authenticated and (user.is_staff or self.is_owned_by(user))

    @property
    def is_shared(self) -> bool:
        """Whether anyone but the owner may see it (the "shared" badge)."""
        if self.visibility == Visibility.EVERYONE:
            return True
        return self.visibility == Visibility.GROUPS and bool(self._share_rows())


class Share(models.Model):
    """A share of one row with a group (the concrete model adds the row's foreign key)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    can_edit = models.BooleanField(
        _("may edit"), default=False, help_text=_("Members may also change it, not only see it.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    @property
    def access(self) -> str:
        # Read-only shares (a chat's) have no can_edit field.
        return "edit" if getattr(self, "can_edit", False) else "view"


def change_sharing(
    row: Shared,
    *,
    actor: Any,
    visibility: str | None = None,
    shares: Mapping[Group, bool] | None = None,
    owner: Any = None,
) -> str:
    """Change who may see `row`, record the change in the history, and say what changed.

    `shares` replaces the row's shares (a group to whether its members may edit); `owner`
    hands the row to another user. Whether `actor` may do this (row.can_manage) is the
    caller's check, made on the row as it is now. Returns "" when nothing changed.
    """
    from apps.accounts.models import SharingChange

    changes: list[str] = []
    with transaction.atomic():
        fields = []
        if visibility is not None and visibility != row.visibility:
            changes.append(f"visibility: {row.visibility} → {visibility}")
            row.visibility = visibility
            fields.append("visibility")
        if owner is not None and owner.pk != row.owner_id:
            changes.append(f"owner: {row.owner} → {owner}")
            row.owner = owner
            fields.append("owner")
        if fields:
            row.save(update_fields=[*fields, "updated_at"])
        if shares is not None:
            changes.extend(_replace_shares(row, shares))
        if changes:
            SharingChange.objects.create(
                subject_type=row._meta.label_lower,
                subject_id=row.pk,
                subject_title=str(row)[:200],
                actor=actor if actor.is_authenticated else None,
                change="; ".join(changes),
            )
    # The row's prefetched shares are stale now.
    getattr(row, "_prefetched_objects_cache", {}).pop(row.shares_attribute, None)
    return "; ".join(changes)


def _replace_shares(row: Shared, wanted: Mapping[Group, bool]) -> list[str]:
    manager = getattr(row, row.shares_attribute)
    has_edit = any(f.name == "can_edit" for f in manager.model._meta.concrete_fields)
    current = {share.group_id: share for share in manager.select_related("group")}
    wanted_by_id = {
        group.pk: (group, bool(can_edit) and has_edit) for group, can_edit in wanted.items()
    }
    changes = []
    for group_id, share in current.items():
        if group_id not in wanted_by_id:
            share.delete()
            changes.append(f"{share.group.name}: {share.access} → removed")
    for group_id, (group, can_edit) in wanted_by_id.items():
        share = current.get(group_id)
        if share is None:
            manager.create(group=group, **({"can_edit": can_edit} if has_edit else {}))
            changes.append(f"{group.name}: {'edit' if can_edit else 'view'}")
        elif has_edit and share.can_edit != can_edit:
            before = share.access
            share.can_edit = can_edit
            share.save(update_fields=["can_edit"])
            changes.append(f"{group.name}: {before} → {share.access}")
    return changes


def groups_for_sharing(user: Any) -> models.QuerySet[Group]:
    """The groups `user` may share with, and that count as theirs (GET /api/groups/): the
    groups they belong to; staff, who set groups up, every group. Sharing with a group one
    is not in would also tell one which group ids exist."""
    if not user.is_authenticated:
        return Group.objects.none()
    if user.is_staff:
        return Group.objects.order_by("name")
    return Group.objects.filter(user=user).order_by("name")
