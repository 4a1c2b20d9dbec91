"""How every form of the site renders: Bootstrap 5 classes on the widgets and one field
template (label, input, help text, errors) wired for assistive technology.

Django already marks an invalid input with aria-invalid and points aria-describedby at
`<id>_helptext` and `<id>_error`; core/field.html gives those ids to the help text and the
errors, so what a screen reader announces is what the page shows.
"""

from __future__ import annotations

from django import forms
from django.forms.renderers import DjangoTemplates


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
