"""Whether an alert fires on a refresh's result: pure functions of the rows."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    try:
        return float(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        return None


def _index(columns: Sequence[str], name: str) -> int | None:
    try:
        return list(columns).index(name)
    except ValueError:
        return None


def fires(
    alert: Any,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    rows_hash: str,
    previous_hash: str,
) -> tuple[bool, str]:
    """(fired, why) for `alert` on a result; `why` is a short sentence for the outcome."""
    condition = alert.condition
    if condition == "always":
        return True, "Delivered on the schedule."
    if condition == "has_rows":
        return bool(rows), f"{len(rows)} rows." if rows else "No rows."
    if condition == "changed":
        if not previous_hash:
            return False, "First result: nothing to compare with."
        changed = rows_hash != previous_hash
        return changed, "The result changed." if changed else "The result did not change."
    return _crosses(alert, columns, rows)


def _crosses(alert: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]):
    column = _index(columns, alert.column)
    if column is None:
        return False, f"The result has no column {alert.column!r}."
    only = _index(columns, alert.filter_column) if alert.filter_column else None
    if alert.filter_column and only is None:
        return False, f"The result has no column {alert.filter_column!r}."
    compare = COMPARE[alert.operator]
    for row in rows:
        if only is not None and str(row[only]) != alert.filter_value:
            continue
        value = _number(row[column])
        if value is not None and compare(value, alert.threshold):
            return True, f"{alert.column} = {row[column]} {alert.operator} {alert.threshold:g}."
    return False, f"No {alert.column} {alert.operator} {alert.threshold:g}."
