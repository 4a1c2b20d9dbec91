"""What the library page shows: the artifacts a user may see, verified first, in sections by
tag and by data source (each with its count), the templates, and a ranked search with tag
and verified filters. Every section is one query whatever the number of rows (a window
function keeps the first few of each group), so the page costs the same at 100,000
artifacts as at 100."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import Case, Count, F, IntegerField, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext_lazy as _

from apps.llm_artifact.models import Artifact, Tag

# Artifacts a section shows; its count says how many there are, its link shows them all.
PER_SECTION = 6
# Sections of each kind, the largest first; tag chips offered as filters.
TAG_SECTIONS = 8
SOURCE_SECTIONS = 8
TAG_CHIPS = 30
TEMPLATES_SHOWN = 12
SEARCH_RESULTS = 50


class LibraryFilter(forms.Form):
    q = forms.CharField(required=False, max_length=200, strip=True, label=_("Search"))
    verified = forms.BooleanField(required=False, label=_("Verified only"))
    tag = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Any tag name is accepted (an unknown one matches nothing); the chips offer the
        # tags of the user's visible artifacts.
        self.fields["tag"].valid_value = lambda value: 0 < len(value.strip()) <= 50

    def value(self, name: str) -> Any:
        if not self.is_valid() and name in self.errors:
            return None
        return self.cleaned_data.get(name) or None

    @property
    def is_filtering(self) -> bool:
        return bool(self.value("q") or self.value("verified") or self.value("tag"))


@dataclass
class Section:
    title: str
    count: int
    url_query: str
    kind: str  # "tag" or "source"
    artifacts: list[Artifact] = field(default_factory=list)


def verified_first(artifacts: QuerySet[Artifact]) -> QuerySet[Artifact]:
    return artifacts.annotate(
        verified_rank=Case(
            When(verified_at__isnull=False, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
    )


def _shown(artifacts: QuerySet[Artifact]) -> QuerySet[Artifact]:
    return artifacts.with_library().select_related("owner")


def library_context(user, form: LibraryFilter) -> dict:
    visible = Artifact.objects.in_scope(user, "")
    chosen_tags = form.value("tag") or []
    context: dict[str, Any] = {
        "form": form,
        "chosen_tags": chosen_tags,
        "tag_chips": list(Tag.objects.on(visible)[:TAG_CHIPS]),
    }
    if form.is_filtering:
        context["results"] = _search(visible, form, chosen_tags)
        return context
    tags = context["tag_chips"][:TAG_SECTIONS]  # the most used first, as the chips
    sources = list(
        visible.order_by()
        .values("data_source")
        .annotate(n=Count("pk"))
        .order_by("-n", "data_source")[:SOURCE_SECTIONS]
    )
    context.update(
        verified_count=visible.filter(verified_at__isnull=False).count(),
        tag_sections=_tag_sections(visible, tags),
        source_sections=_source_sections(visible, sources),
        templates=list(
            _shown(verified_first(visible.exclude(template_slots=[]))).order_by(
                "-verified_rank", "-updated_at", "-id"
            )[:TEMPLATES_SHOWN]
        ),
    )
    return context


def _search(visible: QuerySet[Artifact], form: LibraryFilter, tags: list[str]) -> dict:
    artifacts = visible.tagged(tags)
    if form.value("verified"):
        artifacts = artifacts.filter(verified_at__isnull=False)
    q = form.value("q") or ""
    ranked = artifacts.ranked_search(q)
    order = (
        ["-verified_rank", "-search_rank", "-id"]
        if ranked is not artifacts
        else [
            "-verified_rank",
            "-updated_at",
            "-id",
        ]
    )
    # The ids of the best first (every match is ranked: narrow rows sort faster), then
    # those rows in full.
    ids = list(
        verified_first(ranked).order_by(*order).values_list("pk", flat=True)[: SEARCH_RESULTS + 1]
    )
    by_id = _shown(Artifact.objects.filter(pk__in=ids[:SEARCH_RESULTS])).in_bulk()
    rows = [by_id[pk] for pk in ids[:SEARCH_RESULTS] if pk in by_id]
    return {"artifacts": rows, "more": len(ids) > SEARCH_RESULTS}


def _first_of_each(artifacts: QuerySet[Artifact], group: str) -> list[tuple[int, Any]]:
    """(id, group) of the first PER_SECTION artifacts of each group, verified first, then
    the latest. Numbered over narrow rows (ids and the sort keys), then read in full."""
    order = [F("verified_rank").desc(), F("updated_at").desc(), F("id").desc()]
    numbered = verified_first(artifacts.order_by()).annotate(
        position=Window(RowNumber(), partition_by=[F(group)], order_by=order)
    )
    firsts = numbered.filter(position__lte=PER_SECTION).order_by(group, "position")
    return list(firsts.values_list("pk", group))


def _fill(sections: dict, firsts: list[tuple[int, Any]]) -> list[Section]:
    by_id = _shown(Artifact.objects.filter(pk__in={pk for pk, _ in firsts})).in_bulk()
    for pk, key in firsts:
        if pk in by_id and key in sections:
            sections[key].artifacts.append(by_id[pk])
    return list(sections.values())


def _tag_sections(visible: QuerySet[Artifact], tags: list[Tag]) -> list[Section]:
    if not tags:
        return []
    sections = {
        tag.pk: Section(tag.name, tag.artifact_count, f"tag={tag.name}", "tag") for tag in tags
    }
    tagged = visible.filter(tags__in=tags).annotate(section_tag=F("tags"))
    return _fill(sections, _first_of_each(tagged, "section_tag"))


def _source_sections(visible: QuerySet[Artifact], sources: list[dict]) -> list[Section]:
    if not sources:
        return []
    sections = {s["data_source"]: Section(s["data_source"], s["n"], "", "source") for s in sources}
    firsts = _first_of_each(visible.filter(data_source__in=list(sections)), "data_source")
    return _fill(sections, firsts)
