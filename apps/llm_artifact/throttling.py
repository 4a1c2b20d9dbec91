"""How often one person may run SQL that is not saved yet (previews).

A preview reaches the data source like a run, up to the source's time limit, but leaves no
record behind: without a limit, a script (or a held-down Ctrl+Enter) could keep a source busy
unseen. The API's `POST /api/sql/run/` and the workbench page's "Run preview" count against
the same limit per user (settings.REST_FRAMEWORK's DEFAULT_THROTTLE_RATES["sql-preview"],
from SQL_PREVIEW_THROTTLE_RATE).
"""

from __future__ import annotations

import math

from django.utils.translation import gettext, ngettext
from rest_framework.throttling import UserRateThrottle


class PreviewRunThrottle(UserRateThrottle):
    """DRF's per-user throttle under its own scope; a page view asks it too (allowed())."""

    scope = "sql-preview"

    def allowed(self, request) -> bool:
        """For views outside DRF: the same count, keyed by the signed-in user."""
        return self.allow_request(request, None)


def throttled_message(wait: float | None) -> str:
    """What a person is told when a preview is refused, with when to try again."""
    seconds = math.ceil(wait or 0)
    if seconds <= 0:
        return gettext("Too many preview runs in a short time: wait a moment and run again.")
    return ngettext(
        "Too many preview runs in a short time: run again in %(seconds)d second.",
        "Too many preview runs in a short time: run again in %(seconds)d seconds.",
        seconds,
    ) % {"seconds": seconds}
