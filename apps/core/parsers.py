"""The API's JSON parser: strict JSON (apps.core.json) with a bounded size and depth."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from apps.core import json as strict_json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 what the app cannot store or render.

    NaN, Infinity, numbers too large for a float, nesting deeper than MAX_BODY_DEPTH and
    text with NUL or unpaired surrogates are a parse error naming the problem, instead of a
    500 further on. DRF reads the body as a stream, past Django's own size check, so the
    size limit (DATA_UPLOAD_MAX_MEMORY_SIZE) is applied here as well.
    """

    max_depth = strict_json.MAX_BODY_DEPTH

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as exc:
            message = f"JSON parse error - the body is not {encoding} text: {exc}."
            raise ParseError(message) from None
        try:
            return strict_json.loads(text, max_depth=self.max_depth)
        except strict_json.JSONRefused as exc:
            raise ParseError(f"JSON parse error - {exc.message}") from None
