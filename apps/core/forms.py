"""How every form of the site renders: Bootstrap 5 classes on the widgets and one field
template (label, input, help text, errors) wired for assistive technology.

Django already marks an invalid input with aria-invalid and points aria-describedby at
`<id>_helptext` and `<id>_error`; core/field.html gives those ids to the help text and the
errors, so what a screen reader announces is what the page shows.
The JSON form field shares the API's strict parse; PrettyJSONField shows the value
indented in a monospace editor as tall as its text (the admin's JSON fields).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import DjangoTemplates

from apps.core import json as strict_json


def _base_class(widget: forms.Widget) -> str:
    if isinstance(widget, forms.CheckboxInput):
        return "form-check-input"
    if isinstance(widget, forms.Select):
        return "form-select"
    return "form-control"


class BootstrapBoundField(forms.BoundField):
    """A bound field whose widget carries Bootstrap's classes, and is-invalid with errors.

    Classes a form gives its widget ("font-monospace", an admin's "vTextField") are kept.
    """

    def build_widget_attrs(self, attrs: dict, widget: forms.Widget | None = None) -> dict:
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        if widget.is_hidden or getattr(widget, "input_type", "") in {"file", "radio"}:
            return attrs
        classes = (attrs.get("class") or widget.attrs.get("class") or "").split()
        base = _base_class(widget)
        if base not in classes:
            classes.insert(0, base)
        if self.errors and "is-invalid" not in classes:
            classes.append("is-invalid")
        attrs["class"] = " ".join(classes)
        return attrs


class BootstrapFormRenderer(DjangoTemplates):
    """settings.FORM_RENDERER: `{{ field.as_field_group }}` renders core/field.html.

    A form may set `label_class` and `group_class` for a denser layout (the filters, the
    run form) and mark a field's label with a star by setting `marked_required` on it when
    the field itself stays optional (the run form leaves required values to the model's
    rules)."""

    field_template_name = "core/field.html"
    bound_field_class = BootstrapBoundField


class StrictJSONField(forms.JSONField):
    """Django's JSON form field with the API's strict parse (apps.core.json).

    Django's own reads NaN and 1e400 and recurses until it fails on deep nesting (a 500);
    this one gives the same field error the API gives.
    """

    def to_python(self, value: Any) -> Any:
        if self.disabled or not isinstance(value, str) or value in self.empty_values:
            return super().to_python(value)
        try:
            return strict_json.loads(value)
        except strict_json.JSONRefused as exc:
            raise ValidationError(exc.message, code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or not isinstance(data, str):
            return super().bound_data(data, initial)
        try:
            return strict_json.loads(data)
        except strict_json.JSONRefused:
            return forms.fields.InvalidJSONInput(data)


class JSONEditor(forms.Textarea):
    """A textarea for JSON: monospace, no spell-checking, as tall as its text (within
    bounds), so a pretty-printed value reads at a glance and edits in place."""

    MIN_ROWS = 4
    MAX_ROWS = 40

    def __init__(self, attrs: dict | None = None) -> None:
        defaults = {
            "class": "vLargeTextField json-editor",
            "spellcheck": "false",
            "autocapitalize": "off",
            "style": "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; "
            "font-size: 13px; line-height: 1.4; tab-size: 2; width: 100%; max-width: 60em;",
        }
        super().__init__({**defaults, **(attrs or {})})

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        text = context["widget"]["value"] or ""
        rows = text.count("\n") + 2  # one spare line to type into
        context["widget"]["attrs"]["rows"] = max(self.MIN_ROWS, min(rows, self.MAX_ROWS))
        return context


class PrettyJSONField(StrictJSONField):
    """StrictJSONField shown indented by two spaces in a JSONEditor.

    Text that does not parse is shown back as typed, with the error beside it.
    """

    widget = JSONEditor

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)
