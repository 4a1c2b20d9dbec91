"""Translation helpers every app shares."""

from __future__ import annotations

from django.utils.functional import lazy


def _interpolate(message: str, values: dict) -> str:
    return str(message) % values


# A translated message with its values, read in the language active when it is shown: for
# messages made once and kept (cached rejections) but read by requests in other languages.
lazy_message = lazy(_interpolate, str)
