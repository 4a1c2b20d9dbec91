"""The OpenAPI schema's error answers, documented once for every operation.

drf-spectacular documents what a view declares; the errors DRF and our middleware return on
their own (a bad body, no credentials, not found, too big, throttled...) would otherwise be
missing, or declared view by view. AutoSchema (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) adds
them to each operation according to what it can really return, with two shared bodies:

- ErrorDetail, `{"detail": "..."}`: what DRF answers for 401/403/404/413/415/429 and for a
  body that is not JSON (400);
- ValidationError, field errors keyed by field name (`non_field_errors` for the request as a
  whole), each a list of messages or, for a nested field, an object of them.

The two never both match a body (a message is a string, field errors are lists or objects),
and error serializers (apps.core.serializers.ErrorSerializer) are documented closed, so a
view's own error shapes in a `oneOf` do not overlap either.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions

from apps.core.serializers import ErrorSerializer

ERROR_DETAIL = "ErrorDetail"
VALIDATION_ERROR = "ValidationError"
COMPONENTS = {
    ERROR_DETAIL: {
        "type": "object",
        "description": "An error that is not about one field, in plain words.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "additionalProperties": False,
    },
    VALIDATION_ERROR: {
        "type": "object",
        "description": "Field errors: each key is a field of the request (non_field_errors "
        "for the request as a whole) with its messages; a nested field's errors are an "
        "object keyed the same way (by field, parameter name or list index).",
        "additionalProperties": {
            "oneOf": [
                {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
                {"type": "object"},
            ]
        },
        "minProperties": 1,
    },
}
DESCRIPTIONS = {
    "400": "The request is not valid: field errors, or a body that is not valid JSON.",
    "401": "No credentials, or a token that is not valid (expired or revoked).",
    "403": "Signed in, but not allowed to do this (or a session request without its CSRF token).",
    "404": "Not found: no such object, or not one you can see (the same answer); for a "
    "list, a page past the last.",
    "413": "The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.",
    "415": "The body is not in a media type this operation accepts.",
    "429": "Too many requests: try again later (see Retry-After).",
}
# Permissions that refuse only anonymous users (401); any other may also answer 403.
AUTHENTICATION_ONLY = (permissions.IsAuthenticated, permissions.AllowAny)
PAGING_PARAMETERS = {"page", "page_size"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers each operation really gives."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            self._document_error(responses, code, has_body="requestBody" in operation)
        return operation

    def _error_codes(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        queries = {p["name"] for p in parameters if p["in"] == "query"} - PAGING_PARAMETERS
        authenticated = bool(self.view.get_authenticators())
        restricted = any(
            not isinstance(permission, AUTHENTICATION_ONLY)
            for permission in self.view.get_permissions()
        )
        paged = self._is_list_view() and self._get_paginator() is not None
        codes = {
            "400": has_body or bool(queries),
            "401": authenticated,
            # Session requests that change something pass the CSRF check or get a 403.
            "403": authenticated and (restricted or self.method not in permissions.SAFE_METHODS),
            "404": any(p["in"] == "path" for p in parameters) or paged,
            "413": has_body,
            "415": has_body,
            "429": bool(self.view.get_throttles()),
        }
        return [code for code, applies in codes.items() if applies]

    def _document_error(self, responses: dict, code: str, *, has_body: bool) -> None:
        detail = self._component(ERROR_DETAIL)
        standard = detail
        if code == "400":
            standard = {"oneOf": [self._component(VALIDATION_ERROR), detail]}
        response = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        content = response.setdefault("content", {})
        if "application/json" not in content:
            content["application/json"] = {"schema": standard}
        elif code == "400" and has_body:
            # The view documents its own 400s; a body that is not JSON is refused before it
            # runs, with the parse error's detail.
            own = content["application/json"]["schema"]
            content["application/json"]["schema"] = {"oneOf": [own, detail]}

    def _component(self, name: str) -> dict:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=COMPONENTS[name]
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict:
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, ErrorSerializer) or (
            isinstance(serializer, type) and issubclass(serializer, ErrorSerializer)
        ):
            # Closed: a body with other keys is another error shape, never this one.
            schema["additionalProperties"] = False
            if not schema.get("required"):
                schema["minProperties"] = 1
        return schema
