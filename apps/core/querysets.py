"""Queryset building blocks shared by the apps' models."""

from __future__ import annotations

from typing import Self

from django.db import models


def _nullable(model: type[models.Model], lookup: str) -> bool:
    """Whether ordering by `lookup` ("last_executed_at", "agent__name") can meet a NULL:
    the column itself is nullable, or a nullable relation on the way leaves it empty."""
    for name in lookup.split("__"):
        field = model._meta.get_field("id" if name == "pk" else name)
        if field.null:
            return True
        if not field.is_relation:
            return False
        model = field.related_model
    return False


class StableOrderingQuerySet(models.QuerySet):
    """Sorting whose pages neither repeat nor skip rows, the same on every face."""

    def sorted_by(self, *terms: str) -> Self:
        """Order by field lookups ("title", "-agent__name"), rows without a value last in
        both directions (where SQLite and PostgreSQL disagree), then by id as the tie-break.

        Only nullable columns get NULLS LAST: on the others it would stop PostgreSQL from
        reading the order straight off an index.
        """
        order: list = []
        for term in terms:
            name = term.removeprefix("-")
            descending = term.startswith("-")
            if _nullable(self.model, name):
                expression = models.F(name)
                order.append(
                    expression.desc(nulls_last=True)
                    if descending
                    else expression.asc(nulls_last=True)
                )
            else:
                order.append(term)
        if not any(term.removeprefix("-") in {"id", "pk"} for term in terms):
            order.append("-id" if terms and terms[0].startswith("-") else "id")
        return self.order_by(*order)
