from __future__ import annotations

from django.db.models import F, Model, QuerySet
from django.db.models.expressions import OrderBy
from django_filters import rest_framework as filters
from rest_framework.filters import OrderingFilter

from apps.llm_artifact.models import Artifact


class ArtifactFilter(filters.FilterSet):
    # Each range gives two parameters, e.g. created_after and created_before.
    created = filters.DateFromToRangeFilter(
        field_name="created_at", help_text="Created within these days (YYYY-MM-DD, inclusive)."
    )
    updated = filters.DateFromToRangeFilter(
        field_name="updated_at", help_text="Changed within these days (YYYY-MM-DD, inclusive)."
    )
    last_executed = filters.DateFromToRangeFilter(
        field_name="last_executed_at",
        help_text="Last run within these days (YYYY-MM-DD, inclusive).",
    )

    class Meta:
        model = Artifact
        fields = ["status", "artifact_type", "chat", "agent", "data_source"]


class StableOrderingFilter(OrderingFilter):
    """OrderingFilter whose pages neither repeat nor skip rows.

    The id breaks ties between equal values, and NULLs (never-run artifacts have no
    last_executed_at) go last in both directions, where SQLite and PostgreSQL disagree.
    """

    def filter_queryset(self, request, queryset: QuerySet, view) -> QuerySet:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        terms = [self._order_term(queryset.model, term) for term in ordering]
        if not any(term.lstrip("-") in {"id", "pk"} for term in ordering):
            terms.append("-id" if ordering[0].startswith("-") else "id")
        return queryset.order_by(*terms)

    @staticmethod
    def _order_term(model: type[Model], term: str) -> str | OrderBy:
        name = term.lstrip("-")
        # Only nullable columns get NULLS LAST: on others it would stop PostgreSQL from
        # reading the order straight off an index.
        if not model._meta.get_field(name).null:
            return term
        if term.startswith("-"):
            return F(name).desc(nulls_last=True)
        return F(name).asc(nulls_last=True)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        parameters[0]["description"] = (
            f"Sort by {', '.join(view.ordering_fields)}; prefix a field with - for "
            "descending order, separate several with commas."
        )
        return parameters
