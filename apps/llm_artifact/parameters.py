"""Typed parameters that an artifact's SQL refers to as `:name`.

A declaration is `{"name", "type", "label", "default", "required"}`. Declarations are
validated when an artifact is saved; values from users are coerced by the declared type
when it runs, and always reach the driver as bound parameters.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_date, parse_datetime

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DECLARATION_KEYS = {"name", "type", "label", "default", "required"}


class ParamType(models.TextChoices):
    STRING = "string", "Text"
    INTEGER = "integer", "Whole number"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"


TRUE_WORDS = {"true", "1", "yes", "on", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "f", "n"}


def coerce(param_type: str, value: Any) -> Any:
    """Turn a user's value into the Python value the driver binds, or raise ValueError.

    Dates and datetimes are bound as ISO strings: both SQLite and PostgreSQL compare them
    correctly against date/timestamp columns and text columns holding ISO dates.
    """
    if param_type == ParamType.STRING:
        if isinstance(value, (dict, list)):
            raise ValueError("expected text")
        return str(value)
    if param_type == ParamType.INTEGER:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        text = str(value).strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError("expected a whole number")
        return int(text)
    if param_type == ParamType.NUMBER:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        if isinstance(value, (int, float)):
            return value
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("expected a number") from None
        if not number.is_finite():
            raise ValueError("expected a finite number")
        return float(number)
    if param_type == ParamType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError("expected true or false")
    if param_type == ParamType.DATE:
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            parsed = parse_date(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError("expected a date as YYYY-MM-DD")
        return parsed.isoformat()
    if param_type == ParamType.DATETIME:
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ")
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError("expected a date and time as YYYY-MM-DD HH:MM[:SS]")
        return parsed.isoformat(sep=" ")
    raise ValueError(f"unknown type {param_type!r}")


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
        unknown = set(declaration) - DECLARATION_KEYS
        if unknown:
            errors.append(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
        name = declaration.get("name")
        if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
            errors.append(f"{where}: name {name!r} must be an identifier (letters, digits, _).")
        else:
            where = f"Parameter {name!r}"
            if name in seen:
                errors.append(f"{where}: declared twice.")
            seen.add(name)
        param_type = declaration.get("type")
        if param_type not in ParamType.values:
            errors.append(
                f"{where}: type {param_type!r} is not one of {', '.join(ParamType.values)}."
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
                errors.append(f"{where}: default {default!r} does not match its type ({exc}).")
    if errors:
        raise ValidationError(errors, code="invalid_parameters")


def resolve_values(declarations: list[dict], raw_values: dict[str, Any]) -> dict[str, Any]:
    """Coerce submitted values by their declarations, apply defaults, check required ones.

    Raises ValidationError with a dict keyed by parameter name, so every layer (form, API,
    command line) can show the message beside the parameter it is about.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    declared = {d["name"] for d in declarations}
    for name in raw_values:
        if name not in declared:
            errors[name] = (
                f"Unknown parameter {name!r}; declared: {', '.join(sorted(declared)) or 'none'}."
            )
    for declaration in declarations:
        name = declaration["name"]
        raw = raw_values.get(name)
        if raw is None or raw == "":
            raw = declaration.get("default")
        if raw is None or raw == "":
            if (
                declaration.get("type") == ParamType.STRING
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
            errors[name] = f"Parameter {name!r}: {exc}, got {raw!r}."
    if errors:
        raise ValidationError(errors)
    return values
