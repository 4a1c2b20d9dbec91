"""Whether an alert fires on a refresh's result: pure functions of the rows."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from apps.core.translation import lazy_message

NO_COLUMN = _("The result has no column %(column)r.")
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
    """(fired, why) for `alert` on a result; `why` is a short sentence for the outcome.

    `why` is lazy: it is read in each recipient's language (and the default one where stored).
    """
    condition = alert.condition
    if condition == "always":
        return True, _("Delivered on the schedule.")
    if condition == "has_rows":
        if not rows:
            return False, _("No rows.")
        rows_found = ngettext_lazy("%(n)s row.", "%(n)s rows.", len(rows))
        return True, lazy_message(rows_found, {"n": len(rows)})
    if condition == "changed":
        if not previous_hash:
            return False, _("First result: nothing to compare with.")
        changed = rows_hash != previous_hash
        return changed, _("The result changed.") if changed else _("The result did not change.")
    return _crosses(alert, columns, rows)


def _crosses(alert: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]):
    column = _index(columns, alert.column)
    if column is None:
        return False, lazy_message(NO_COLUMN, {"column": alert.column})
    only = _index(columns, alert.filter_column) if alert.filter_column else None
    if alert.filter_column and only is None:
        return False, lazy_message(NO_COLUMN, {"column": alert.filter_column})
    compare = COMPARE[alert.operator]
    comparison = {"operator": alert.operator, "threshold": f"{alert.threshold:g}"}
    for row in rows:
        if only is not None and str(row[only]) != alert.filter_value:
            continue
        value = _number(row[column])
        if value is not None and compare(value, alert.threshold):
            found = {"column": alert.column, "value": row[column], **comparison}
            return True, lazy_message(
                _("%(column)s = %(value)s %(operator)s %(threshold)s."), found
            )
    return False, lazy_message(
        _("No %(column)s %(operator)s %(threshold)s."), {"column": alert.column, **comparison}
    )
