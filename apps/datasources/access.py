"""Whether a user may use a data source, and what of it is exposed: one home for the rule
the artifact and chat querysets, the rules predicates, the schema browser, the SQL check and
the agent's tools all ask (the policies themselves are in models.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext

from apps.accounts.sharing import user_group_ids
from apps.datasources.models import DataSourceGrant, DataSourcePolicy, ExposedTable
from apps.datasources.sources import all_data_sources, data_source_names


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
        restricted = restricted_sources()
        # Without any grants there is nothing to compare the user's groups with.
        groups = user_group_ids(user) if restricted else frozenset()
        cached = frozenset(
            source for source, granted in restricted.items() if not (granted & groups)
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


def usable_source_names(user: Any) -> list[str]:
    """The configured sources `user` may use, sorted: all a face may name to them."""
    return [name for name in data_source_names() if may_use_source(user, name)]


def validate_source_for(user: Any, name: str) -> None:
    """validate_data_source for a name `user` gave: a source they may not use is refused
    exactly like one that does not exist, naming only the sources they may use."""
    if not is_usable_source(user, name):
        raise ValidationError(unknown_source_message(user, name), code="unknown_data_source")


def is_usable_source(user: Any, name: str) -> bool:
    """Whether `name` is a configured source `user` may use."""
    return name in all_data_sources() and may_use_source(user, name)


def unknown_source_message(user: Any, name: str) -> str:
    """What a face says of a source that does not exist, or that `user` may not use."""
    usable = ", ".join(usable_source_names(user)) or gettext("none")
    return gettext("Unknown data source %(name)s. Configured: %(usable)s.") % {
        "name": repr(name),
        "usable": usable,
    }


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


# Every run asks for its source's exposure: kept this long in the cache, and dropped at once
# when an operator changes a policy (signals.py). The bound covers caches that a change in
# another process cannot reach (the per-process default), and edits that send no signal.
EXPOSURE_CACHE_SECONDS = 30


def _exposure_key(source: str) -> str:
    return f"datasources:exposure:{source}"


def exposure_of(source: str) -> Exposure:
    """The exposed tables of `source` (EVERYTHING when the operators set none).

    Cached briefly per source, so a run costs no query of the app database.
    """
    key = _exposure_key(source)
    tables = cache.get(key)
    if tables is None:
        rows = ExposedTable.objects.filter(policy__source=source).values_list(
            "name", "hidden_columns"
        )
        tables = {
            name.lower(): frozenset(str(column).lower() for column in (hidden or []))
            for name, hidden in rows
        }
        cache.set(key, tables, EXPOSURE_CACHE_SECONDS)
    return Exposure(restricted=True, tables=tables) if tables else EVERYTHING


def forget_exposure(source: str) -> None:
    """Drop the cached exposure of `source`: its policy has just changed."""
    cache.delete(_exposure_key(source))


__all__ = [
    "EVERYTHING",
    "DataSourcePolicy",
    "Exposure",
    "exposure_of",
    "forget_exposure",
    "is_usable_source",
    "may_use_source",
    "restricted_sources",
    "sources_denied_to",
    "unknown_source_message",
    "usable_source_names",
    "validate_source_for",
]
