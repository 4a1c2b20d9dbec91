"""The dashboard page's forms: a tile to add and a filter to add. They only turn inputs into
a tile or a filter of the document; its rules are the type's (types/dashboard.py), checked
by the model when the dashboard is saved."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.types.dashboard import WIDTHS, filter_name

# The artifacts offered in the "add a tile" list: the most recently changed; any other the
# user may see is taken by its id.
TILE_CHOICES = 100


class ArtifactIdField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Artifact) -> str:
        return f"#{obj.pk} {obj.title}"


class TileForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Tile"),
        choices=[("artifact", _("An SQL artifact")), ("text", _("A text (Markdown)"))],
        initial="artifact",
    )
    artifact = ArtifactIdField(
        label=_("Artifact"), queryset=Artifact.objects.none(), required=False
    )
    show = forms.ChoiceField(
        label=_("Show"),
        choices=[
            ("chart", _("Its chart")),
            ("table", _("Its table")),
            ("number", _("One big number")),
        ],
        initial="table",
    )
    width = forms.TypedChoiceField(
        label=_("Width"),
        coerce=int,
        choices=[(w, _("%(n)s of 12 columns") % {"n": w}) for w in WIDTHS],
        initial=6,
    )
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    text = forms.CharField(
        label=_("Text"), max_length=20_000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sql_artifacts = Artifact.objects.visible_to(user).filter(
            artifact_type__in=artifact_types.sql_names()
        )
        field = self.fields["artifact"]
        field.queryset = sql_artifacts
        recent = sql_artifacts.order_by("-updated_at", "-id").only("pk", "title")[:TILE_CHOICES]
        field.widget.choices = [("", "—")] + [(a.pk, f"#{a.pk} {a.title}") for a in recent]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == "artifact" and not data.get("artifact"):
            self.add_error("artifact", _("Choose the artifact this tile shows."))
        if data.get("kind") == "text" and not (data.get("text") or "").strip():
            self.add_error("text", _("Write the tile's text."))
        return data

    def tile(self, tile_id: str) -> dict:
        data = self.cleaned_data
        tile = {"id": tile_id, "kind": data["kind"], "width": data["width"]}
        if data["kind"] == "text":
            return {**tile, "text": data["text"]}
        return {
            **tile,
            "artifact": str(data["artifact"].uid),
            "show": data["show"],
            "title": data["title"].strip(),
        }


class FilterForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=100)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("date_range", _("A date range")), ("value", _("A value"))]
    )
    params = forms.CharField(
        label=_("Parameters it fills"),
        max_length=200,
        help_text=_("A date range: its start and end parameters, e.g. start_date, end_date."),
    )
    default = forms.CharField(
        label=_("Default"),
        max_length=200,
        required=False,
        help_text=_("A date range: start, end (dates or relative: start_of_month, today)."),
    )

    def clean_params(self) -> list[str]:
        return [name for name in re.split(r"[\s,]+", self.cleaned_data["params"]) if name]

    def clean_default(self) -> list[str]:
        text = self.cleaned_data["default"]
        return [value.strip() for value in text.split(",")] if text.strip() else []

    def filter(self, taken: set[str]) -> dict:
        data = self.cleaned_data
        return {
            "name": filter_name(data["label"], taken),
            "kind": data["kind"],
            "label": data["label"].strip(),
            "params": data["params"],
            "default": data["default"],
        }
