"""What every htmx-aware view shares: the request type and the page-or-fragment choice."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """The request our views receive: django-htmx adds `htmx`, auth adds `user`."""

    htmx: HtmxDetails
    user: AbstractBaseUser | AnonymousUser


def is_partial(request: HtmxHttpRequest) -> bool:
    """Whether to answer with a fragment of the page rather than the whole page.

    htmx swaps a fragment in, but a history restore after a cache miss wants the whole
    page. Views whose URL answers both ways are decorated with
    `vary_on_headers("HX-Request")`, so caches keep the two apart.
    """
    return bool(request.htmx) and not request.htmx.history_restore_request


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The template to render: `template#partial` for htmx, the whole page otherwise."""
    return f"{template}#{partial}" if is_partial(request) else template
