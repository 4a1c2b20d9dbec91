"""Property tests of parameter coercion and declarations: any JSON value in gives either a
typed value that both engines and a JSON column can hold, or a parameter error naming the
parameter; never another exception."""

from __future__ import annotations

import datetime as dt
import json
import math

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.core import json as strict_json
from apps.core.json import INT64_MAX, INT64_MIN, json_problem
from apps.llm_artifact.parameters import (
    ParamType,
    coerce,
    resolve_values,
    validate_declarations,
)

# Derandomized: CI runs the same examples every time, so a failure is reproducible, not luck.
PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text that looks like the values people type, and the ones that break things.
typed_text = st.one_of(
    st.text(),
    st.from_regex(r"[+-]?\d{1,30}(\.\d{0,10})?([eE][+-]?\d{1,4})?", fullmatch=True),
    st.sampled_from(["NaN", "nan", "Infinity", "-inf", "1e400", "9" * 5000, "", " ", "\x00"]),
    st.sampled_from(["true", "off", "2024-02-30", "2024-01-01", "2024-01-01 10:00:00+99:00"]),
    st.dates().map(dt.date.isoformat),
    st.datetimes().map(lambda value: value.isoformat(sep=" ")),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    typed_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
param_types = st.sampled_from(ParamType.values)
names = st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), json_values)
declarations = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"name": names, "type": st.one_of(param_types, json_values)},
            optional={
                "label": st.one_of(st.text(max_size=10), json_values),
                "default": json_values,
                "required": st.one_of(st.booleans(), json_values),
            },
        ),
        json_values,
    ),
    max_size=4,
)


def deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def assert_storable(value: object) -> None:
    """What a run record keeps: JSON without NaN, whole numbers within 64 bits."""
    assert json_problem(value) == ""
    json.dumps(value, allow_nan=False).encode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool):
        assert INT64_MIN <= value <= INT64_MAX


@PROPERTIES
@given(param_types, json_values)
@example(ParamType.INTEGER, 2**63)
@example(ParamType.INTEGER, "9" * 5000)
@example(ParamType.NUMBER, 10**400)
@example(ParamType.NUMBER, "1e400")
@example(ParamType.STRING, "\ud800")
@example(ParamType.STRING, deep(5000))
@example(ParamType.DATETIME, "9999-12-31 23:59:59-23:59")
def test_coerce_gives_a_typed_storable_value_or_a_value_error(param_type, value):
    try:
        result = coerce(param_type, value)
    except ValueError as exc:
        assert str(exc)
        return
    expected = {
        ParamType.STRING: str,
        ParamType.INTEGER: int,
        ParamType.NUMBER: int | float,
        ParamType.BOOLEAN: bool,
        ParamType.DATE: str,
        ParamType.DATETIME: str,
    }[param_type]
    assert isinstance(result, expected)
    if param_type in (ParamType.INTEGER, ParamType.NUMBER):
        assert not isinstance(result, bool) and math.isfinite(result)
    if param_type == ParamType.DATE:
        dt.date.fromisoformat(result)
    assert_storable(result)


ALL_TYPES = [{"name": f"p_{t}", "type": t} for t in ParamType.values]


@PROPERTIES
@given(st.dictionaries(st.sampled_from([d["name"] for d in ALL_TYPES] + ["other"]), json_values))
def test_resolve_values_gives_storable_values_or_errors_keyed_by_name(raw):
    try:
        values = resolve_values(ALL_TYPES, raw)
    except ValidationError as exc:
        assert exc.message_dict
        for name, messages in exc.message_dict.items():
            assert name in raw or name in {d["name"] for d in ALL_TYPES}
            assert all(isinstance(message, str) and message for message in messages)
        return
    assert set(values) == {d["name"] for d in ALL_TYPES}
    assert_storable(values)


@PROPERTIES
@given(st.one_of(declarations, json_values))
@example([{"name": "n", "type": "integer", "default": 2**64}])
@example([{"name": "x", "type": "number", "default": math.nan}])
@example([{"name": "x", "type": "string", "label": deep(5000)}])
@example(deep(100_000))
def test_declarations_are_valid_or_a_validation_error(value):
    try:
        validate_declarations(value)
    except ValidationError as exc:
        assert exc.messages and all(isinstance(m, str) for m in exc.messages)
        return
    # Valid declarations can be stored, and resolve with no values to defaults or errors.
    assert_storable(value)
    try:
        values = resolve_values(value, {})
    except ValidationError as exc:
        assert exc.message_dict
    else:
        assert_storable(values)


@PROPERTIES
@given(json_values.map(lambda value: json.dumps(value, allow_nan=True)) | st.text())
@example("[" * 100_000 + "]" * 100_000)
@example('{"a": ' + "9" * 5000 + "}")
@example('"\\ud800"')
def test_the_strict_parse_gives_a_storable_value_or_says_why(text):
    try:
        value = strict_json.loads(text)
    except strict_json.JSONRefused as exc:
        assert exc.message
        return
    # A JSON body may hold integers of any size (a parameter value is bounded where it is
    # bound, and an id that large is simply not found); everything else must be storable.
    assert json_problem(value) == ""
    json.dumps(value, allow_nan=False).encode("utf-8")
