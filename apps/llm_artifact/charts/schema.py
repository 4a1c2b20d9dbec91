"""The official Vega-Lite JSON Schema, and its errors put in plain words.

The schema ships with the `vega-lite` npm package that also serves vega-embed's compiler to
the browser, so what we accept on save is what the page can draw. It is large (~1.5 MB, a
tree of anyOf alternatives), so the validator is built once per process, and a failure
inside an anyOf is narrowed to the alternative the author evidently meant instead of being
reported as "is not valid under any of the given schemas" with the whole spec attached.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from jsonschema import validators
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.protocols import Validator

PathParts = tuple[str | int, ...]

# An alternative whose own keyword rejects the value itself (not something inside it) was
# clearly not the one the author meant.
_OUTRIGHT = {"type", "enum", "const"}
_ALTERNATIVES = {"anyOf", "oneOf"}
_MAX_LISTED = 20


def schema_file() -> Path:
    return Path(settings.NODE_MODULES) / "vega-lite" / "build" / "vega-lite-schema.json"


@functools.cache
def vega_lite_version() -> str:
    """The version of the npm package, e.g. "6.4.3": the browser compiles with this one."""
    package = Path(settings.NODE_MODULES) / "vega-lite" / "package.json"
    return json.loads(package.read_text(encoding="utf-8"))["version"]


@functools.cache
def load_schema() -> dict[str, Any]:
    return json.loads(schema_file().read_text(encoding="utf-8"))


@functools.cache
def validator() -> Validator:
    """A validator for the draft the schema declares (draft-07 for Vega-Lite 6).

    The schema is not checked against its metaschema here (that costs a quarter of a
    second); the test suite does it once.
    """
    schema = load_schema()
    cls = validators.validator_for(schema)
    return cls(schema)


def schema_problems(spec: Any) -> list[tuple[PathParts, str]]:
    """(path, message) for every way `spec` breaks the schema, most useful first."""
    found: list[tuple[PathParts, str]] = []
    for error in validator().iter_errors(spec):
        found.extend(_explain(error))
    unique = list(dict.fromkeys(found))
    return unique


# --- narrowing anyOf/oneOf failures ---------------------------------------------------------


def _explain(error: SchemaError) -> list[tuple[PathParts, str]]:
    if error.validator not in _ALTERNATIVES or not error.context:
        return _describe(error)
    branches = _branches(error)
    scores = {
        i: _branch_score(error, i, errs)
        for i, errs in branches.items()
        if not _rejects_outright(errs)
    }
    if not scores:
        return [(_path(error), _alternatives_message(error))]
    best = max(scores.values())
    tied = [branches[i] for i, score in sorted(scores.items()) if score == best]
    merged = _merge_enum_choices(tied)
    if merged is not None:
        return merged
    return [line for sub in tied[0] for line in _explain(sub)]


def _branches(error: SchemaError) -> dict[int, list[SchemaError]]:
    grouped: dict[int, list[SchemaError]] = defaultdict(list)
    for sub in error.context:
        grouped[sub.relative_schema_path[0]].append(sub)
    return dict(grouped)


def _rejects_outright(errors: Iterable[SchemaError]) -> bool:
    for sub in errors:
        if sub.relative_path:
            continue
        if sub.validator in _OUTRIGHT:
            return True
        if (
            sub.validator in _ALTERNATIVES
            and sub.context
            and all(_rejects_outright(errs) for errs in _branches(sub).values())
        ):
            return True
    return False


def _branch_score(parent: SchemaError, index: int, errors: list[SchemaError]) -> tuple[int, int]:
    """Prefer the alternative that knows most of the object's keys, then the cheapest fix."""
    known = 0
    if isinstance(parent.instance, dict):
        branch = parent.schema[parent.validator][index]
        known = len(set(parent.instance) & _property_names(branch))
    return known, -sum(_cost(sub) for sub in errors)


def _cost(error: SchemaError) -> int:
    if error.validator in _ALTERNATIVES and error.context:
        return min(sum(_cost(sub) for sub in errs) for errs in _branches(error).values())
    if error.validator == "additionalProperties":
        return max(1, len(_unexpected_keys(error)))
    if error.validator == "required":
        return max(1, len(_missing_keys(error)))
    return 1


# Keyed by id(): branches are parts of the cached schema, which lives as long as the process.
_PROPERTY_NAMES: dict[int, frozenset[str]] = {}


def _property_names(branch: dict[str, Any]) -> frozenset[str]:
    names = _PROPERTY_NAMES.get(id(branch))
    if names is None:
        names = _PROPERTY_NAMES[id(branch)] = frozenset(_collect_properties(branch, depth=0))
    return names


def _collect_properties(schema: Any, depth: int) -> set[str]:
    if not isinstance(schema, dict) or depth > 4:
        return set()
    schema = _resolve(schema)
    names = set(schema.get("properties", {}))
    for keyword in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(keyword, []):
            names |= _collect_properties(branch, depth + 1)
    return names


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    # Every reference in the Vega-Lite schema is local ("#/definitions/Name").
    seen = 0
    while "$ref" in schema and seen < 16:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = load_schema()["definitions"].get(name, {})
        seen += 1
    return schema


def _merge_enum_choices(tied: list[list[SchemaError]]) -> list[tuple[PathParts, str]] | None:
    """Alternatives that fail only on an enum at the same spot: list every allowed value."""
    if len(tied) < 2:
        return None
    leaves = [leaf for errs in tied for leaf in _every_leaf(errs)]
    paths = {_path(leaf) for leaf in leaves}
    if len(paths) != 1 or not all(leaf.validator in {"enum", "const"} for leaf in leaves):
        return None
    choices: list[Any] = []
    for leaf in leaves:
        choices.extend(v for v in _expected_values(leaf) if v not in choices)
    return [(paths.pop(), f"{_show(leaves[0].instance)} is not one of {_list(choices)}.")]


def _every_leaf(errors: Iterable[SchemaError]) -> Iterator[SchemaError]:
    for sub in errors:
        if sub.validator in _ALTERNATIVES and sub.context:
            yield from _every_leaf(sub.context)
        else:
            yield sub


def _alternatives_message(error: SchemaError) -> str:
    values: list[Any] = []
    types: list[str] = []
    for leaf in _all_leaves(error):
        if leaf.relative_path and leaf is not error:
            continue
        if leaf.validator in {"enum", "const"}:
            values.extend(v for v in _expected_values(leaf) if v not in values)
        elif leaf.validator == "type":
            for name in _type_names(leaf.validator_value):
                if name not in types:
                    types.append(name)
    expected = [_show(v) for v in values[:_MAX_LISTED]]
    if len(values) > _MAX_LISTED:
        expected.append("…")
    # A type only counts as an alternative when no enum of that type was offered.
    offered_types = {_type_of(v) for v in values}
    expected.extend(t for t in types if t not in offered_types)
    if not expected:
        return f"{_show(error.instance)} is not allowed here."
    return f"{_show(error.instance)} is not allowed here; expected {_or_list(expected)}."


def _all_leaves(error: SchemaError) -> Iterator[SchemaError]:
    # Context paths are relative to the parent, so only leaves that stay on the same value
    # (no path step on the way down) describe what this value could have been.
    for sub in error.context:
        if sub.relative_path:
            continue
        if sub.validator in _ALTERNATIVES and sub.context:
            yield from _all_leaves(sub)
        else:
            yield sub


# --- leaf errors in plain words -------------------------------------------------------------


def _describe(error: SchemaError) -> list[tuple[PathParts, str]]:
    path = _path(error)
    kind = error.validator
    if kind == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        out = []
        for key in _unexpected_keys(error):
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
            out.append(((*path, key), f"Unknown property '{key}'.{suggestion}"))
        return out or [(path, "Unknown properties.")]
    if kind == "required":
        missing = _missing_keys(error)
        return [((*path, key), f"Missing required property '{key}'.") for key in missing]
    if kind == "type":
        expected = _or_list(_type_names(error.validator_value))
        got = f"{_type_of(error.instance)} {_show(error.instance)}"
        return [(path, f"Expected {expected}, got {got}.")]
    if kind in {"enum", "const"}:
        choices = _list(_expected_values(error))
        return [(path, f"{_show(error.instance)} is not one of {choices}.")]
    if kind == "oneOf":
        return [(path, "This matches more than one form of the setting; make it more specific.")]
    return [(path, _clip(error.message))]


def _unexpected_keys(error: SchemaError) -> list[str]:
    if not isinstance(error.instance, dict):
        return []
    known = set(error.schema.get("properties", {}))
    patterns = error.schema.get("patternProperties", {})
    if patterns:
        return []  # Not used by Vega-Lite; fall back rather than guess at regexes.
    return [key for key in error.instance if key not in known]


def _missing_keys(error: SchemaError) -> list[str]:
    if not isinstance(error.instance, dict):
        return []
    return [key for key in error.validator_value if key not in error.instance]


def _expected_values(error: SchemaError) -> list[Any]:
    if error.validator == "const":
        return [error.validator_value]
    return list(error.validator_value)


def _type_names(value: str | list[str]) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    return [_ARTICLE.get(name, name) for name in names]


_ARTICLE = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _path(error: SchemaError) -> PathParts:
    return tuple(error.absolute_path)


def _show(value: Any, limit: int = 60) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, default=str), limit)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _list(values: list[Any]) -> str:
    shown = [_show(v) for v in values[:_MAX_LISTED]]
    if len(values) > _MAX_LISTED:
        shown.append("…")
    return ", ".join(shown)


def _or_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
