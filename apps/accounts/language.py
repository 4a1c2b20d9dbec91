"""Which language a request is answered in: the user's choice, then the browser's.

The choice lives on the user's Profile and is copied into the session when they sign in or
change it, so no page pays a query to learn it. Without one (or signed out), Django's
LocaleMiddleware decides from the language cookie and then Accept-Language.
"""

from __future__ import annotations

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

SESSION_KEY = "language"


def is_supported(code: str) -> bool:
    return code in dict(settings.LANGUAGES)


def remember_language(request, code: str) -> None:
    """Answer this session in `code` from now on ('' returns to the browser's choice)."""
    if code and is_supported(code):
        request.session[SESSION_KEY] = code
        translation.activate(code)
        request.LANGUAGE_CODE = code
    else:
        request.session.pop(SESSION_KEY, None)


class UserLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request) -> None:
        if request.path_info.startswith(settings.STATIC_URL):
            # A static file has no language, and reading the session would cost it a query.
            return
        session = getattr(request, "session", None)
        code = session.get(SESSION_KEY) if session is not None else None
        if code and is_supported(code):
            translation.activate(code)
            request.LANGUAGE_CODE = code
            return
        super().process_request(request)
