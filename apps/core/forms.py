"""Form fields the apps' forms and admin share."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.core import json as strict_json


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
