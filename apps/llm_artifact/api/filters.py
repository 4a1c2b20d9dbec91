from __future__ import annotations

from django import forms
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import OrderingFilter, SearchFilter

from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact, chats_visible_to


def visible_chats(request) -> QuerySet:
    """The requester's visible chats: another user's chat is refused like a missing one."""
    return chats_visible_to(getattr(request, "user", None) or AnonymousUser())


class TagNamesFormField(forms.Field):
    """Every `tag` value of the query string, trimmed, blanks left out."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        names = [" ".join(str(v).split()) for v in values]
        if any(len(name) > 50 for name in names):
            raise forms.ValidationError(_("A tag name has at most 50 characters."))
        if len(names) > 20:
            raise forms.ValidationError(_("Filter by at most 20 tags."))
        return [name for name in names if name]


@extend_schema_field({"type": "array", "items": {"type": "string", "maxLength": 50}})
class TagsFilter(filters.Filter):
    field_class = TagNamesFormField

    def filter(self, queryset: QuerySet, value: list[str]) -> QuerySet:
        return queryset.tagged(value) if value else queryset


class ArtifactFilter(filters.FilterSet):
    # A number input, not a select: the browsable API's filter form would otherwise list
    # every chat (thousands of options). The id is checked against the visible chats.
    chat = filters.ModelChoiceFilter(
        queryset=visible_chats,
        widget=forms.NumberInput,
        help_text="One of your chats, by id.",
    )
    # Every agent: the agents API shows them all to every signed-in user.
    agent = filters.ModelChoiceFilter(queryset=Agent.objects.all(), help_text="An agent, by id.")
    owner = filters.CharFilter(
        field_name="owner__username", help_text="Only artifacts of the user with this username."
    )
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

    tag = TagsFilter(
        help_text="A tag name (any case); repeat it (?tag=a&tag=b) for artifacts carrying all."
    )
    verified = filters.BooleanFilter(
        field_name="verified_at", lookup_expr="isnull", exclude=True, help_text="Verified or not."
    )

    class Meta:
        model = Artifact
        fields = ["status", "artifact_type", "chat", "agent", "data_source"]


class StableOrderingFilter(OrderingFilter):
    """OrderingFilter through the queryset's sorted_by(): empty values last, the id as the
    tie-break, as on the artifact page."""

    def filter_queryset(self, request, queryset: QuerySet, view) -> QuerySet:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        return queryset.sorted_by(*ordering)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        parameters[0]["description"] = (
            f"Sort by {', '.join(view.ordering_fields)}; prefix a field with - for "
            "descending order, separate several with commas."
        )
        return parameters


class ArtifactSearchFilter(SearchFilter):
    """`?search=` through ArtifactQuerySet.ranked_search(), the page's and the admin's rule:
    best match first unless `?ordering=` says otherwise."""

    def filter_queryset(self, request, queryset: QuerySet, view) -> QuerySet:
        return queryset.ranked_search(request.query_params.get(self.search_param, ""))
