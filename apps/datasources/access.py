"""Whether a user may use a data source, and what of it is exposed: one home for the rule
the artifact and chat querysets, the rules predicates, the schema browser, the SQL check and
the agent's tools all ask (the policies themselves are in models.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from apps.accounts.sharing import user_group_ids
from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable


def restricted_sources() -> dict[str, frozenset[int]]:
    """Each source that has grants, with the groups granted it."""
    granted: dict[str, set[int]] = {}
    for source, group_id in DataSourceGrant.objects.values_list("policy__source", "group_id"):
        granted.setdefault(source, set()).add(group_id)
    return {source: frozenset(groups) for source, groups in granted.items()}


def sources_denied_to(user: Any) -> frozenset[str]:
    """The sources `user` may not use, read once per user object (one request's).

    Staff may use every source; a source without grants is open to every signed-in user.
    (Anonymous users see no rows anyway, so their answer here does not matter.)
    """
    if user.is_authenticated and user.is_staff:
        return frozenset()
    cached = getattr(user, "_denied_sources", None)
    if cached is None:
        groups = user_group_ids(user)
        cached = frozenset(
            source for source, granted in restricted_sources().items() if not (granted & groups)
        )
        user._denied_sources = cached
    return cached


def denied_sources_subquery(user: Any) -> models.QuerySet:
    """sources_denied_to as a subquery, for querysets that filter by it without a query of
    their own: the sources with grants, none of them to a group of `user`'s."""
    with_grants = DataSourcePolicy.objects.filter(grants__isnull=False)
    mine = DataSourceGrant.objects.filter(group__user=user).values("policy_id")
    return with_grants.exclude(pk__in=mine).values("source").distinct()


def may_use_source(user: Any, source: str) -> bool:
    return user.is_authenticated and source not in sources_denied_to(user)


@dataclass(frozen=True)
class Exposure:
    """What of a source SQL may read: every table, or only `tables` minus hidden columns.

    Table names are compared case-insensitively, as both engines fold unquoted names.
    """

    restricted: bool = False
    # Lower-cased table name -> lower-cased hidden column names.
    tables: dict[str, frozenset[str]] = field(default_factory=dict)

    def allows_table(self, name: str) -> bool:
        return not self.restricted or name.lower() in self.tables

    def hidden_columns(self, table: str) -> frozenset[str]:
        return self.tables.get(table.lower(), frozenset())

    def allows_column(self, table: str, column: str) -> bool:
        return self.allows_table(table) and column.lower() not in self.hidden_columns(table)


EVERYTHING = Exposure()


def exposure_of(source: str) -> Exposure:
    """The exposed tables of `source` (EVERYTHING when the operators set none)."""
    rows = ExposedTable.objects.filter(policy__source=source).values_list("name", "hidden_columns")
    tables = {
        name.lower(): frozenset(str(column).lower() for column in (hidden or []))
        for name, hidden in rows
    }
    return Exposure(restricted=True, tables=tables) if tables else EVERYTHING


__all__ = [
    "EVERYTHING",
    "DataSourcePolicy",
    "Exposure",
    "exposure_of",
    "may_use_source",
    "restricted_sources",
    "sources_denied_to",
]
