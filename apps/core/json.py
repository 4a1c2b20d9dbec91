"""JSON as the app accepts it: finite numbers, bounded nesting, text a database can store.

Python's json module reads `NaN`, `Infinity` and `1e400` (as an infinite float), recurses
once per level of nesting until it fails, and keeps unpaired surrogates in strings; none of
those can be stored in a JSON column, rendered or drawn. One parse serves every way JSON
comes in (the API's parser, the chart editor), and one check every JSON value that is
stored (parameter declarations, chart specs), so what cannot be rendered is never kept.
"""

from __future__ import annotations

import json
import math
from typing import Any

# How deep a request body may nest ({"a": [1]} is 2 deep). Real bodies nest a handful of
# levels: an artifact with its chart spec well under 20.
MAX_BODY_DEPTH = 64
# How deep a stored JSON value may nest (a chart spec, parameter declarations): below the
# body's limit, so a stored value always fits back into a request.
MAX_STORED_DEPTH = 32
# The range of a signed 64-bit integer: what SQLite and PostgreSQL (bigint) can hold.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class JSONRefused(ValueError):
    """The text is not JSON the app accepts; `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _refuse_constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not a number JSON allows; send a finite number or null.")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise JSONRefused(f"The number {_clip(text)} is too large to be stored.")
    return number


def loads(text: str | bytes, *, max_depth: int = MAX_BODY_DEPTH) -> Any:
    """Parse strict JSON, or raise JSONRefused saying where or what is wrong.

    Refused: invalid JSON (with line and column), NaN / Infinity, numbers too large for a
    float, integers longer than Python converts, nesting deeper than `max_depth`, and
    strings that cannot be stored as UTF-8 text (unpaired surrogates, NUL).
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JSONRefused:
        raise
    except json.JSONDecodeError as exc:
        raise JSONRefused(
            f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise JSONRefused(_too_deep(max_depth)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        # Integers beyond Python's digit limit, bytes that are not UTF-8.
        raise JSONRefused(f"This is not valid JSON: {exc}.") from None
    problem = json_problem(value, max_depth=max_depth)
    if problem:
        raise JSONRefused(problem)
    return value


def json_problem(value: Any, *, max_depth: int = MAX_STORED_DEPTH) -> str:
    """Why `value` cannot be stored and rendered as JSON, or "" when it can.

    Walks the value without recursion, so any depth is measured safely: non-finite floats,
    nesting deeper than `max_depth`, strings with NUL or unpaired surrogates, and values of
    a type JSON does not have.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                return _too_deep(max_depth)
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if key is not None:
                    stack.append((key, depth))
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{item} is not a number JSON allows; use a finite number or null."
        elif item is not None and not isinstance(item, bool | int):
            return f"A {type(item).__name__} is not a JSON value."
    return ""


def text_problem(text: str) -> str:
    if "\x00" in text:
        return "Text may not contain NUL (\\u0000) characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Text may not contain unpaired surrogates (\\ud800-\\udfff)."
    return ""


def _too_deep(max_depth: int) -> str:
    return f"The JSON is nested too deeply: at most {max_depth} levels of objects and arrays."


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
