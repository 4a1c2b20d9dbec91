"""What the apps' API serializers share: validation by the model's own rules."""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.settings import api_settings


def api_validation_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A model's ValidationError as DRF's: keyed by field, `__all__` as non_field_errors."""
    detail = serializers.as_serializer_error(exc)
    if NON_FIELD_ERRORS in detail:
        detail.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(
            detail.pop(NON_FIELD_ERRORS)
        )
    return serializers.ValidationError(detail)


class ModelCleanSerializer(serializers.ModelSerializer):
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
