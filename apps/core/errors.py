"""Requests refused before any view runs: a body too big, too many form fields.

Django raises RequestDataTooBig / TooManyFieldsSent when the body is read (by the CSRF
check, a form, or the API's parser) and answers them with a bare "Bad Request (400)". API
clients get JSON naming the limit instead, and people a page that says what to do.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

API_PREFIX = "/api/"


def limit_message(exc: BaseException) -> tuple[int, str] | None:
    """The status and message for a request limit that `exc` says was hit, else None."""
    if isinstance(exc, RequestDataTooBig):
        size = filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE).replace("\xa0", " ")
        return 413, f"The request body is too large: at most {size} is accepted."
    if isinstance(exc, TooManyFieldsSent):
        count = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return 400, f"The request has too many fields: at most {count:,} are accepted."
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus the request limits as JSON errors (REST_FRAMEWORK setting)."""
    limit = limit_message(exc)
    if limit is not None:
        status, message = limit
        return Response({"detail": message}, status=status)
    return drf_exception_handler(exc, context)


def bad_request(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """handler400: JSON for API clients, the readable 400 page for people."""
    status, message = limit_message(exception) or (
        400,
        "The request could not be understood.",
    )
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "400.html", {"message": message}, status=status)
