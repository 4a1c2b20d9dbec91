"""What the apps' API serializers share: strict input types, validation by the model's rules."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

WHOLE_NUMBER_RE = re.compile(r"\s*[+-]?\d+\s*")
NUMBER_RE = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def api_validation_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A model's ValidationError as DRF's: keyed by field, `__all__` as non_field_errors."""
    detail = serializers.as_serializer_error(exc)
    if NON_FIELD_ERRORS in detail:
        detail.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(
            detail.pop(NON_FIELD_ERRORS)
        )
    return serializers.ValidationError(detail)


def type_problem(field: serializers.Field, value: Any) -> str:
    """Why `value` is of the wrong JSON type for `field`, or "" when it is acceptable.

    DRF converts what it can: `"title": 123` becomes "123", `"agent": 1.5` agent 1 and
    `"is_active": 1` true. The API refuses those instead. Text forms of numbers and
    booleans stay accepted, as form posts (the browsable API) send nothing else.
    """
    if isinstance(field, serializers.CharField):
        return "" if isinstance(value, str) else f"Not a valid string: got {_json_type(value)}."
    if isinstance(field, serializers.BooleanField):
        if isinstance(value, bool) or (
            isinstance(value, str) and value in field.TRUE_VALUES | field.FALSE_VALUES
        ):
            return ""
        return f"Must be a valid boolean (true or false): got {_json_type(value)}."
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and WHOLE_NUMBER_RE.fullmatch(value)
        ):
            return ""
        return f"A valid integer is required: got {_json_type(value)}."
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        if (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and NUMBER_RE.fullmatch(value)
        ):
            return ""
        return f"A valid number is required: got {_json_type(value)}."
    return ""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = str(value) if abs(value) < 1e15 else f"{value:.3g}"
        return f"the number {text}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


class StrictTypesMixin:
    """Refuse values of the wrong JSON type instead of converting them (see type_problem).

    Checked on the raw input of every writable field before DRF's own conversion, so
    declared fields and the ModelSerializer's generated ones are covered alike.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {}
            for field in self._writable_fields:
                value = field.get_value(data)
                if value is empty or value is None:
                    continue
                problem = type_problem(field, value)
                if problem:
                    errors[field.field_name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class Serializer(StrictTypesMixin, serializers.Serializer):
    """The base of the apps' plain input serializers: strict JSON types."""


class ModelSerializer(StrictTypesMixin, serializers.ModelSerializer):
    """The base of the apps' model serializers: strict JSON types."""


class ModelCleanSerializer(ModelSerializer):
    """A ModelSerializer that validates through the model's full_clean().

    The rules live on the model (field validators, clean(), constraints), so the API, the
    forms and the admin give the same answer; this maps the model's errors to field-level
    400s. Fields the client cannot write (owner, timestamps, counters) are left out of the
    field checks, as a ModelForm leaves out fields it does not show; clean() always runs.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        # A copy, so a rejected update leaves the instance the view holds untouched.
        candidate = copy.copy(self.instance) if self.instance else self.Meta.model()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.full_clean(exclude=self._fields_not_to_check())
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        return attrs

    def _fields_not_to_check(self) -> set[str]:
        # Related objects were already looked up in their field's queryset (which may be
        # narrower than the model's, e.g. only the requester's chats); the model's own
        # existence check would repeat that query.
        checked = {
            field.source
            for field in self.fields.values()
            if not field.read_only and not isinstance(field, serializers.RelatedField)
        }
        return {f.name for f in self.Meta.model._meta.concrete_fields if f.name not in checked}


class ErrorSerializer(serializers.Serializer):
    """The shape of an error body, for the schema only (it reads no input).

    Documented closed, with no other keys (apps.core.openapi): an operation's error shapes
    listed in one `oneOf` then match a body exactly once.
    """
