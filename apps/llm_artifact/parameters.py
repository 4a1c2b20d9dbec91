"""Typed parameters that an artifact's SQL refers to as `:name`.

A declaration is `{"name", "type", "label", "default", "required", "choices"}`; `choices`
(text parameters only) lists the values allowed, which forms show as a select. Declarations
are validated when an artifact is saved; values from users are coerced by the declared type
(and checked against the choices) when it runs, and always reach the driver as bound
parameters.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_date, parse_datetime

from apps.core.json import INT64_MAX, INT64_MIN, MAX_STORED_DEPTH, json_problem, text_problem

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DECLARATION_KEYS = {"name", "type", "label", "default", "required", "choices"}
# Allowed values a text parameter may list, and how long each may be.
MAX_CHOICES = 200
MAX_CHOICE_LENGTH = 200


class ParamType(models.TextChoices):
    STRING = "string", "Text"
    INTEGER = "integer", "Whole number"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"


TRUE_WORDS = {"true", "1", "yes", "on", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "f", "n"}


EXPECTED = {
    ParamType.STRING: "text",
    ParamType.INTEGER: "a whole number",
    ParamType.NUMBER: "a number",
    ParamType.BOOLEAN: "true or false",
    ParamType.DATE: "a date as YYYY-MM-DD",
    ParamType.DATETIME: "a date and time as YYYY-MM-DD HH:MM[:SS]",
}
# Digits a whole number may have as text: INT64_MAX has 19, and Python refuses to convert
# integers of more than 4,300 digits with an error of its own.
MAX_INTEGER_DIGITS = 20


def coerce(param_type: str, value: Any) -> Any:
    """Turn a user's value into the Python value the driver binds, or raise ValueError.

    Every value that comes out fits both engines and a JSON column (the run record keeps
    it): whole numbers within 64 bits, finite numbers, text without NUL or unpaired
    surrogates. Dates and datetimes are bound as ISO strings: both SQLite and PostgreSQL
    compare them correctly against date/timestamp columns and text columns holding ISO dates.
    """
    expected = EXPECTED.get(param_type) if isinstance(param_type, str) else None
    if expected is None:
        raise ValueError(f"unknown type {shown(param_type)}")
    if value is None or isinstance(value, dict | list | tuple | set):
        raise ValueError(f"expected {expected}, not {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected {expected}; {value} is not a finite number")
    return _COERCERS[param_type](value)


def _coerce_string(value: Any) -> str:
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    raise ValueError("expected text")


def _coerce_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("expected a whole number")
        value = int(value)
    elif not isinstance(value, int):
        text = str(value).strip()
        if not re.fullmatch(rf"[+-]?\d{{1,{MAX_INTEGER_DIGITS}}}", text):
            raise ValueError("expected a whole number")
        value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"a whole number must lie between {INT64_MIN} and {INT64_MAX}")
    return value


def _coerce_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        number: Any = value  # beyond 64 bits: bound as a float, as in the text form
    elif isinstance(value, float):
        return value
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("expected a number") from None
    try:
        result = float(number)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number within ±{sys.float_info.max:.4g}")
    return result


def _coerce_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError("expected true or false")


def _parse(parser: Any, value: Any, expected: str) -> Any:
    """`value`'s text read by one of Django's date parsers; unreadable text (a bad format or
    an impossible date such as 2024-02-30) is a ValueError that says what was `expected`."""
    try:
        parsed = parser(str(value).strip())
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        raise ValueError(expected)
    return parsed


def _coerce_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return _parse(parse_date, value, "expected a date as YYYY-MM-DD").isoformat()


def _coerce_datetime(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    expected = "expected a date and time as YYYY-MM-DD HH:MM[:SS]"
    return _parse(parse_datetime, value, expected).isoformat(sep=" ")


_COERCERS: dict[str, Any] = {
    ParamType.STRING: _coerce_string,
    ParamType.INTEGER: _coerce_integer,
    ParamType.NUMBER: _coerce_number,
    ParamType.BOOLEAN: _coerce_boolean,
    ParamType.DATE: _coerce_date,
    ParamType.DATETIME: _coerce_datetime,
}


def shown(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: short, and safe for any JSON value."""
    if isinstance(value, dict | list | tuple | set):
        return _kind(value)
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python prints
        return "a number too long to show"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a list"


def validate_declarations(declarations: Any) -> None:
    """Raise ValidationError naming each malformed declaration."""
    if not isinstance(declarations, list):
        raise ValidationError("Parameters must be a list of declarations.", code="not_a_list")
    errors: list[str] = []
    seen: set[str] = set()
    for index, declaration in enumerate(declarations):
        where = f"Parameter {index + 1}"
        if not isinstance(declaration, dict):
            errors.append(f"{where}: must be an object with name and type.")
            continue
        name = declaration.get("name")
        named = isinstance(name, str) and IDENTIFIER_RE.match(name)
        if named:
            where = f"Parameter {name!r}"
        # Before anything looks inside: a NaN default or a value nested deeper than any
        # page can render is refused here, so it is never stored.
        problem = json_problem(declaration, max_depth=MAX_STORED_DEPTH - 1)
        if problem:
            errors.append(f"{where}: {problem}")
            continue
        unknown = set(declaration) - DECLARATION_KEYS
        if unknown:
            errors.append(f"{where}: unknown keys {shown(', '.join(sorted(unknown)))}.")
        if not named:
            errors.append(
                f"{where}: name {shown(name)} must be an identifier (letters, digits, _)."
            )
        else:
            if name in seen:
                errors.append(f"{where}: declared twice.")
            seen.add(name)
        param_type = declaration.get("type")
        if not isinstance(param_type, str) or param_type not in ParamType.values:
            errors.append(
                f"{where}: type {shown(param_type)} is not one of {', '.join(ParamType.values)}."
            )
            continue
        label = declaration.get("label", "")
        if label is not None and not isinstance(label, str):
            errors.append(f"{where}: label must be text.")
        required = declaration.get("required", False)
        if not isinstance(required, bool):
            errors.append(f"{where}: required must be true or false.")
        default = declaration.get("default")
        if default is not None:
            try:
                coerce(param_type, default)
            except ValueError as exc:
                errors.append(f"{where}: default {shown(default)} does not match its type ({exc}).")
        if "choices" in declaration:
            errors.extend(f"{where}: {problem}" for problem in _choices_problems(declaration))
    if errors:
        raise ValidationError(errors, code="invalid_parameters")


def _choices_problems(declaration: dict) -> list[str]:
    choices = declaration["choices"]
    if declaration.get("type") != ParamType.STRING:
        return ["choices are for text parameters only (type string)."]
    if not isinstance(choices, list) or not choices:
        return ["choices must be a non-empty list of texts."]
    if len(choices) > MAX_CHOICES:
        return [f"at most {MAX_CHOICES} choices, not {len(choices)}."]
    problems = []
    for choice in choices:
        if not isinstance(choice, str) or not choice or len(choice) > MAX_CHOICE_LENGTH:
            problems.append(
                f"choice {shown(choice)} must be a text of 1 to {MAX_CHOICE_LENGTH} characters."
            )
        elif problem := text_problem(choice):
            problems.append(f"choice {shown(choice)}: {problem}")
    if not problems and len(set(choices)) != len(choices):
        problems.append("choices must not repeat.")
    default = declaration.get("default")
    if not problems and default is not None and default not in choices:
        problems.append(f"default {shown(default)} is not one of its choices.")
    return problems


def choice_problem(declaration: dict, value: Any) -> str:
    """Why `value` is not among the declaration's choices ("" when it is, or when any
    value goes)."""
    choices = declaration.get("choices")
    if not isinstance(choices, list) or value is None or value in choices:
        return ""
    listed = ", ".join(shown(choice) for choice in choices[:20])
    more = ", …" if len(choices) > 20 else ""
    return f"{shown(value)} is not one of the allowed values ({listed}{more})"


def resolve_values(declarations: list[dict], raw_values: dict[str, Any]) -> dict[str, Any]:
    """Coerce submitted values by their declarations, apply defaults, check required ones.

    A parameter that is not submitted takes its default; a required one submitted empty is
    an error, default or not.

    Raises ValidationError with a dict keyed by parameter name, so every layer (form, API,
    command line) can show the message beside the parameter it is about.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    declared = {d["name"] for d in declarations}
    for name in raw_values:
        if name not in declared:
            errors[name] = (
                f"Unknown parameter {shown(name)}; "
                f"declared: {', '.join(sorted(declared)) or 'none'}."
            )
    for declaration in declarations:
        name = declaration["name"]
        raw = raw_values.get(name)
        if declaration.get("required") and name in raw_values and _is_blank(raw):
            # Left empty on purpose (a cleared input, "" or null in the API): running with the
            # default instead would report a success nobody asked for. Not given at all (a
            # card's Run, a call without it) still takes the default.
            errors[name] = f"Parameter {name!r} is required."
            continue
        if _is_blank(raw):
            raw = declaration.get("default")
        if _is_blank(raw):
            if (
                declaration.get("type") == ParamType.STRING
                and "choices" not in declaration
                and name in raw_values
                and raw_values[name] == ""
            ):
                # An explicitly empty text value is a value, not a missing one.
                values[name] = ""
                continue
            if declaration.get("required"):
                errors[name] = f"Parameter {name!r} is required."
            else:
                values[name] = None
            continue
        try:
            values[name] = coerce(declaration["type"], raw)
        except ValueError as exc:
            errors[name] = f"Parameter {name!r}: {exc}, got {shown(raw)}."
            continue
        if problem := choice_problem(declaration, values[name]):
            del values[name]
            errors[name] = f"Parameter {name!r}: {problem}."
    if errors:
        raise ValidationError(errors)
    return values


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")
