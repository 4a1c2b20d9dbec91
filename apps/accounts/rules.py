"""Predicates shared by the apps' permissions (rules package); each app's rules.py names its
permissions from them. A predicate receives the user and the object (None when the question
is asked without one, which grants nothing: these are object permissions only)."""

from __future__ import annotations

import rules


@rules.predicate
def can_see(user, row) -> bool:
    return row is not None and row.is_visible_to(user)


@rules.predicate
def can_edit(user, row) -> bool:
    return row is not None and row.is_editable_by(user)


@rules.predicate
def can_manage(user, row) -> bool:
    return row is not None and row.can_manage(user)
