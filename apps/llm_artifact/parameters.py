"""Typed parameters that an artifact's SQL refers to as `:name`.

A declaration is `{"name", "type", "label", "default", "required", "choices",
"choices_from", "help_text"}` (help_text: what a person reads under the input). Text
parameters may list the values allowed, fixed (`choices`) or read from a column of the data
source (`"choices_from": {"table": "orders", "column": "status"}`, see
apps.llm_artifact.column_values); forms show them as a select. Date and datetime parameters
may default to a relative date (`start_of_month -1 month`, see
apps.llm_artifact.relative_dates), evaluated on the local date when the artifact runs.
Declarations are validated when an artifact is saved; values from users are coerced by the
declared type (and checked against the allowed values) when it runs, and always reach the
driver as bound parameters. A run records the concrete values, never the expressions.
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
from django.utils.translation import gettext as _

from apps.core.json import INT64_MAX, INT64_MIN, MAX_STORED_DEPTH, json_problem, text_problem
from apps.datasources.executor import QueryFailed
from apps.llm_artifact.column_values import (
    AllowedValues,
    ColumnMissing,
    column_holds,
    find_column,
    read_column_values,
)
from apps.llm_artifact.relative_dates import EXAMPLES, local_today, parse_relative_date

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DECLARATION_KEYS = {
    "name",
    "type",
    "label",
    "default",
    "required",
    "choices",
    "choices_from",
    "help_text",
}
CHOICES_FROM_KEYS = {"table", "column"}
MAX_NAME_LENGTH = 200
# Allowed values a text parameter may list, and how long each may be.
MAX_CHOICES = 200
MAX_CHOICE_LENGTH = 200
# What a person reads under the input: a sentence or two.
MAX_HELP_TEXT_LENGTH = 500


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
        raise ValidationError(_("Parameters must be a list of declarations."), code="not_a_list")
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
        help_text = declaration.get("help_text", "")
        if help_text is not None and (
            not isinstance(help_text, str) or len(help_text) > MAX_HELP_TEXT_LENGTH
        ):
            errors.append(
                f"{where}: help_text must be text of at most {MAX_HELP_TEXT_LENGTH} characters."
            )
        required = declaration.get("required", False)
        if not isinstance(required, bool):
            errors.append(f"{where}: required must be true or false.")
        if problem := default_problem(param_type, declaration.get("default")):
            errors.append(f"{where}: {problem}")
        if "choices" in declaration:
            errors.extend(f"{where}: {problem}" for problem in _choices_problems(declaration))
        if "choices_from" in declaration:
            errors.extend(f"{where}: {problem}" for problem in _choices_from_problems(declaration))
    if errors:
        raise ValidationError(errors, code="invalid_parameters")


# The types whose defaults (and values) may be relative dates.
RELATIVE_TYPES = {ParamType.DATE, ParamType.DATETIME}


def is_relative(param_type: Any, value: Any) -> bool:
    """Whether `value` is a relative date for a parameter of `param_type`."""
    return _relative_date(param_type, value) is not None


def _relative_date(param_type: Any, value: Any) -> Any:
    """`value` read as a relative date when the type takes them and it is one, else None."""
    if param_type not in RELATIVE_TYPES or not isinstance(value, str):
        return None
    try:
        return parse_relative_date(value)
    except ValueError:
        return None


def resolve_relative(param_type: str, value: Any, today: dt.date | None = None) -> Any:
    """`value` with a relative date replaced by the concrete date it means on `today` (the
    local date by default), as text the type's coercion reads; any other value unchanged.
    A datetime takes the day's start. Raises ValueError when the date leaves the calendar."""
    relative = _relative_date(param_type, value)
    if relative is None:
        return value
    day = relative.resolve(today).isoformat()
    return f"{day} 00:00:00" if param_type == ParamType.DATETIME else day


def default_problem(param_type: str, default: Any, today: dt.date | None = None) -> str:
    """Why `default` cannot be the default of a `param_type` parameter ("" when it can)."""
    if default is None:
        return ""
    try:
        coerce(param_type, resolve_relative(param_type, default, today))
    except ValueError as exc:
        if param_type in RELATIVE_TYPES and isinstance(default, str):
            try:
                parse_relative_date(default).resolve(today)
            except ValueError as reason:
                return (
                    f"default {shown(default)} does not match its type (expected "
                    f"{EXPECTED[param_type]}, or a relative date such as {EXAMPLES}; "
                    f"read as a relative date: {reason})."
                )
        return f"default {shown(default)} does not match its type ({exc})."
    return ""


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


def _choices_from_problems(declaration: dict) -> list[str]:
    """The shape of `choices_from`; whether its table and column exist is the data source's
    to say (column_choice_problems)."""
    choices_from = declaration["choices_from"]
    if declaration.get("type") != ParamType.STRING:
        return ["choices_from is for text parameters only (type string)."]
    if "choices" in declaration:
        return ["give either choices or choices_from, not both."]
    if not isinstance(choices_from, dict) or set(choices_from) != CHOICES_FROM_KEYS:
        return ['choices_from must be {"table": ..., "column": ...}.']
    problems = []
    for key in ("table", "column"):
        name = choices_from[key]
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
            problems.append(
                f"choices_from's {key} {shown(name)} must be a name of 1 to "
                f"{MAX_NAME_LENGTH} characters."
            )
        elif problem := text_problem(name):
            problems.append(f"choices_from's {key} {shown(name)}: {problem}")
    return problems


def _choices_from(declaration: dict) -> tuple[str, str] | None:
    """The (table, column) a well-formed declaration reads its allowed values from."""
    choices_from = declaration.get("choices_from")
    if declaration.get("type") != ParamType.STRING or not isinstance(choices_from, dict):
        return None
    table, column = choices_from.get("table"), choices_from.get("column")
    if not isinstance(table, str) or not isinstance(column, str):
        return None
    return table, column


def allowed_values(
    declaration: dict, data_source: str, *, refresh: bool = False
) -> AllowedValues | None:
    """The values the parameter allows (None when any value goes): its fixed choices, or
    the first ones of its column, from the cache unless `refresh`."""
    choices = declaration.get("choices")
    if isinstance(choices, list):
        return AllowedValues(values=[c for c in choices if isinstance(c, str)])
    column = _choices_from(declaration)
    if column is None or not data_source:
        return None
    return read_column_values(data_source, *column, refresh=refresh)


def column_choice_problems(
    declarations: Any, data_source: str, *, refresh: bool = True
) -> list[str]:
    """For saving: each `choices_from` names a table and column of `data_source`, and the
    default is one of its values. Reads the values afresh (refresh=True), so a save also
    refreshes what the run forms offer. A source that cannot be read now is not held
    against the declaration: the run form says so, and the run itself reports it."""
    try:
        validate_declarations(declarations)
    except ValidationError:
        return []  # malformed declarations are reported as such first
    problems: list[str] = []
    for declaration in declarations:
        if (column := _choices_from(declaration)) is None:
            continue
        where = f"Parameter {declaration.get('name')!r}"
        try:
            find_column(data_source, *column)
        except ColumnMissing as exc:
            problems.append(f"{where}: choices_from: {exc}.")
            continue
        except QueryFailed:
            continue
        allowed = read_column_values(data_source, *column, refresh=refresh)
        default = declaration.get("default")
        if default is None or allowed.error:
            continue
        if problem := _column_value_problem(data_source, column, allowed, default):
            problems.append(f"{where}: default {problem}.")
    return problems


def choice_problem(declaration: dict, value: Any, data_source: str = "") -> str:
    """Why `value` is not among the declaration's allowed values ("" when it is, or when
    any value goes). Values from a column are checked when `data_source` is given and can
    be read; otherwise the run itself finds out."""
    if value is None:
        return ""
    choices = declaration.get("choices")
    if isinstance(choices, list):
        if value in choices:
            return ""
        listed = ", ".join(shown(choice) for choice in choices[:20])
        more = ", …" if len(choices) > 20 else ""
        return f"{shown(value)} is not one of the allowed values ({listed}{more})"
    column = _choices_from(declaration)
    if column is None or not data_source:
        return ""
    allowed = read_column_values(data_source, *column)
    if allowed.error:
        return ""
    return _column_value_problem(data_source, column, allowed, value)


def _column_value_problem(
    data_source: str, column: tuple[str, str], allowed: AllowedValues, value: Any
) -> str:
    if value in allowed.values:
        return ""
    if allowed.more and isinstance(value, str):
        # Past the listed values: ask the column itself.
        try:
            if column_holds(data_source, *column, value):
                return ""
        except (QueryFailed, ColumnMissing):
            return ""
    table, name = column
    listed = ", ".join(shown(v) for v in allowed.values[:20])
    more = ", …" if allowed.more or len(allowed.values) > 20 else ""
    return (
        f"{shown(value)} is not a value of column {name!r} of {table!r} "
        f"({listed or 'it has none'}{more})"
    )


def resolve_values(
    declarations: list[dict],
    raw_values: dict[str, Any],
    *,
    data_source: str = "",
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Coerce submitted values by their declarations, apply defaults, check required ones.

    A parameter that is not submitted takes its default; a required one submitted empty is
    an error, default or not. Relative dates (in defaults and in submitted values) become
    the dates they mean on `today`, the local date by default: the values returned are
    concrete, as a run records them. With `data_source`, values of parameters whose allowed
    values come from a column are checked against it.

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
                and "choices_from" not in declaration
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
        param_type = declaration["type"]
        try:
            values[name] = coerce(param_type, resolve_relative(param_type, raw, today))
        except ValueError as exc:
            also = f" or a relative date (e.g. {EXAMPLES})" if param_type in RELATIVE_TYPES else ""
            errors[name] = f"Parameter {name!r}: {exc}{also}, got {shown(raw)}."
            continue
        if problem := choice_problem(declaration, values[name], data_source):
            del values[name]
            errors[name] = f"Parameter {name!r}: {problem}."
    if errors:
        raise ValidationError(errors)
    return values


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def describe_parameters(
    declarations: Any, data_source: str, today: dt.date | None = None
) -> list[dict]:
    """The declared parameters as a run takes them today, for the API and the agent: each
    declaration's fields, `default_value` (a relative default evaluated on `today`, the
    local date by default) and `allowed_values` (fixed or read from the column; null when
    any value goes), with `allowed_values_more` when a column holds more than are listed
    and `allowed_values_error` when they could not be read. Empty for broken declarations."""
    try:
        validate_declarations(declarations)
    except ValidationError:
        return []
    today = today or local_today()
    described = []
    for declaration in declarations:
        param_type, default = declaration["type"], declaration.get("default")
        try:
            default_value = (
                None
                if default is None
                else coerce(param_type, resolve_relative(param_type, default, today))
            )
        except ValueError:
            default_value = None
        allowed = allowed_values(declaration, data_source)
        described.append(
            {
                "name": declaration["name"],
                "type": param_type,
                "label": declaration.get("label") or "",
                "required": bool(declaration.get("required")),
                "default": default,
                "relative_default": is_relative(param_type, default),
                "default_value": default_value,
                "choices_from": declaration.get("choices_from"),
                "allowed_values": None if allowed is None or allowed.error else allowed.values,
                "allowed_values_more": bool(allowed and allowed.more),
                "allowed_values_error": allowed.error if allowed else "",
            }
        )
    return described
