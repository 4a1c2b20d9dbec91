from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """The request our views receive: django-htmx adds `htmx`, auth adds `user`."""

    htmx: HtmxDetails
    user: AbstractBaseUser | AnonymousUser
