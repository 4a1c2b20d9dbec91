"""Checking an artifact's visualization config before it is saved or drawn.

A config is a Vega-Lite spec whose only data is the named dataset `results`, which the page
fills with the run's rows at render time. It is written by an LLM that may have read
injected text, so beyond the official schema we refuse anything that brings in other data
or reaches the network: inline values, URLs (data, images, links), embedded datasets and
other named data. A spec of another language (a Vega `$schema`) is refused too, because
vega-embed would compile it as Vega, past every rule here; so is `usermeta.embedOptions`,
which vega-embed lets override the page's own embed options.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from apps.core.json import MAX_STORED_DEPTH, json_problem
from apps.llm_artifact.charts.fields import (
    column_name,
    escape_field,
    has_unescaped_access,
    literal_name,
    root_name,
)
from apps.llm_artifact.charts.schema import PathParts, schema_problems, vega_lite_version

DATASET_NAME = "results"
SCHEMA_URL = "https://vega.github.io/schema/vega-lite/v6.json"
# A chart spec is a few KB; anything far bigger is data smuggled into the config.
MAX_SPEC_CHARS = 100_000
MAX_PROBLEMS = 25

_SCHEMA_URL_RE = re.compile(r"^https?://vega\.github\.io/schema/vega-lite/v(\d+)(?:\.\d+)*\.json$")
_IDENTIFIER_RE = re.compile(r"^[A-Za-z_$][\w$]*$")
_DATUM_DOT_RE = re.compile(r"\bdatum\s*\.\s*([A-Za-z_$][\w$]*)")
_DATUM_INDEX_RE = re.compile(r"""\bdatum\s*\[\s*(['"])((?:\\.|(?!\1).)*)\1\s*\]""")
_GENERATORS = ("sequence", "sphere", "graticule")
_USE_RESULTS = 'use "data": {"name": "results"}, the rows of the artifact\'s run'


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class ChartProblem:
    """One problem in a spec. `path` is dotted ("encoding.x.field", "layer[1].mark")."""

    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "severity": str(self.severity)}


def format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER_RE.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def validate_visualization(spec: Any, *, columns: list[str] | None) -> list[ChartProblem]:
    """Every problem in `spec`, errors first; [] when it can be saved and drawn as is.

    `{}` means "table only" and is valid. `columns` are the column names of the artifact's
    last successful run; with None (no such run yet) field names cannot be checked, which
    is reported as a warning rather than an error.
    """
    if isinstance(spec, dict) and not spec:
        return []
    if not isinstance(spec, dict):
        return [ChartProblem("", "The chart must be a JSON object ({} for a table only).")]
    # Before anything walks the spec recursively: NaN, or nesting no renderer can follow.
    unrenderable = json_problem(spec, max_depth=MAX_STORED_DEPTH)
    if unrenderable:
        return [ChartProblem("", unrenderable)]
    size = len(json.dumps(spec, default=str))
    if size > MAX_SPEC_CHARS:
        return [
            ChartProblem(
                "",
                f"The chart spec is {size:,} characters long; the limit is {MAX_SPEC_CHARS:,}. "
                "Charts refer to the run's rows by name and never hold data.",
            )
        ]

    problems: list[tuple[PathParts, str, Severity]] = []
    problems.extend(_schema_url_problems(spec))
    problems.extend(_source_problems(spec))
    own_paths = {path for path, _, _ in problems}
    for path, message in schema_problems(spec):
        # The same gap reported by both (a missing "data", say): keep our plainer wording.
        if path not in own_paths:
            problems.append((path, message, Severity.ERROR))
    if columns is None:
        problems.append(
            (
                (),
                "There is no successful run yet, so the fields were not checked against "
                "the result's columns.",
                Severity.WARNING,
            )
        )
    else:
        names = [column_name(column) for column in columns]
        checker = _FieldChecker(names)
        checker.view(spec, (), frozenset(names))
        problems.extend((path, message, Severity.ERROR) for path, message in checker.problems)

    ordered = sorted(problems, key=lambda p: p[2] != Severity.ERROR)
    unique = list(dict.fromkeys(ordered))[:MAX_PROBLEMS]
    return [
        ChartProblem(format_path(path), message, severity) for path, message, severity in unique
    ]


# --- the spec's language and its data --------------------------------------------------------


def _schema_url_problems(spec: dict[str, Any]) -> list[tuple[PathParts, str, Severity]]:
    if "$schema" not in spec:
        return []
    url = spec["$schema"]
    match = _SCHEMA_URL_RE.match(url) if isinstance(url, str) else None
    if not match:
        return [
            (
                ("$schema",),
                f'Charts are Vega-Lite specs: set "$schema" to "{SCHEMA_URL}" (or leave it out).',
                Severity.ERROR,
            )
        ]
    major = vega_lite_version().split(".")[0]
    if match.group(1) != major:
        return [
            (
                ("$schema",),
                f"This spec is written for Vega-Lite v{match.group(1)}; charts are drawn with "
                f'Vega-Lite v{major}. Set "$schema" to "{SCHEMA_URL}".',
                Severity.WARNING,
            )
        ]
    return []


def _source_problems(spec: dict[str, Any]) -> list[tuple[PathParts, str, Severity]]:
    found: list[tuple[PathParts, str]] = []
    if "data" not in spec:
        found.append((("data",), f"The chart has no data: {_USE_RESULTS}."))
    _walk_sources(spec, (), found)
    return [(path, message, Severity.ERROR) for path, message in found]


def _walk_sources(node: Any, path: PathParts, found: list[tuple[PathParts, str]]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk_sources(item, (*path, index), found)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        here = (*path, key)
        if key == "usermeta":
            # Free-form notes, except that vega-embed merges usermeta.embedOptions over the
            # page's own options (mode, loader, a JSON patch of the compiled spec...).
            if isinstance(value, dict) and "embedOptions" in value:
                found.append(((*here, "embedOptions"), "Charts cannot set embed options."))
            continue
        if key == "data":
            found.extend(_data_problems(value, here))
        elif key == "datasets":
            found.append((here, f"Charts cannot embed datasets; {_USE_RESULTS}."))
        elif key == "url":
            found.append((here, "Charts cannot load anything from a URL (data or images)."))
        elif key == "href":
            found.append((here, "Charts cannot contain links."))
        elif key == "mark" and _mark_type(value) == "image":
            found.append((here, "Image marks are not allowed: they load pictures from URLs."))
        else:
            _walk_sources(value, here, found)


def _mark_type(mark: Any) -> Any:
    return mark.get("type") if isinstance(mark, dict) else mark


def _data_problems(data: Any, path: PathParts) -> list[tuple[PathParts, str]]:
    if not isinstance(data, dict):
        return [(path, f"Charts only draw the run results: {_USE_RESULTS}.")]
    if "values" in data:
        return [((*path, "values"), f"Inline data is not allowed; {_USE_RESULTS}.")]
    if "url" in data:
        return [((*path, "url"), f"Loading data from a URL is not allowed; {_USE_RESULTS}.")]
    for generator in _GENERATORS:
        if generator in data:
            return [((*path, generator), f"Generated data is not allowed; {_USE_RESULTS}.")]
    if "name" not in data:
        return [(path, f"Charts only draw the run results: {_USE_RESULTS}.")]
    if data["name"] != DATASET_NAME:
        return [
            (
                (*path, "name"),
                f"There is no dataset named {json.dumps(data['name'])}; the only one is "
                f'"{DATASET_NAME}", the rows of the artifact\'s run.',
            )
        ]
    return []


# --- field names against the run's columns ---------------------------------------------------


class _FieldChecker:
    """Walks views and their transforms in order, tracking which fields exist at each point.

    A transform's `as` adds a field; aggregate, density, loess, quantile and regression
    replace the rows (only group-by and output fields remain); after a pivot the fields
    depend on the data's values, so nothing below it is checked.
    """

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.problems: list[tuple[PathParts, str]] = []

    # views

    def view(self, spec: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if not isinstance(spec, dict):
            return
        available = self.transforms(spec.get("transform"), (*path, "transform"), available)
        encoding = spec.get("encoding")
        if isinstance(encoding, dict):
            for channel, definition in encoding.items():
                self.channel(definition, (*path, "encoding", channel), available)
        facet = spec.get("facet")
        if isinstance(facet, dict):
            if "field" in facet:
                self.channel(facet, (*path, "facet"), available)
            else:
                for key, definition in facet.items():
                    self.channel(definition, (*path, "facet", key), available)
        self.repeat(spec.get("repeat"), (*path, "repeat"), available)
        self.params(spec.get("params"), (*path, "params"), available)
        for key in ("layer", "concat", "hconcat", "vconcat"):
            children = spec.get(key)
            if isinstance(children, list):
                for index, child in enumerate(children):
                    self.view(child, (*path, key, index), available)
        self.view(spec.get("spec"), (*path, "spec"), available)

    def channel(self, definition: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if isinstance(definition, list):  # tooltip and detail take lists
            for index, item in enumerate(definition):
                self.channel(item, (*path, index), available)
            return
        if not isinstance(definition, dict):
            return
        self.ref(definition.get("field"), (*path, "field"), available)
        aggregate = definition.get("aggregate")
        if isinstance(aggregate, dict):
            for op in ("argmax", "argmin"):
                self.ref(aggregate.get(op), (*path, "aggregate", op), available)
        sort = definition.get("sort")
        if isinstance(sort, dict):
            self.ref(sort.get("field"), (*path, "sort", "field"), available)
        condition = definition.get("condition")
        if isinstance(condition, list):
            conditions = [((*path, "condition", i), item) for i, item in enumerate(condition)]
        else:
            conditions = [((*path, "condition"), condition)]
        for here, item in conditions:
            if isinstance(item, dict):
                self.expression(item.get("test"), (*here, "test"), available)
                self.channel(item, here, available)

    def repeat(self, repeat: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if isinstance(repeat, list):
            self.refs(repeat, path, available)
        elif isinstance(repeat, dict):
            for key, names in repeat.items():
                if isinstance(names, list):
                    self.refs(names, (*path, key), available)

    def params(self, params: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if not isinstance(params, list):
            return
        for index, param in enumerate(params):
            select = param.get("select") if isinstance(param, dict) else None
            if isinstance(select, dict):
                self.refs(select.get("fields"), (*path, index, "select", "fields"), available)

    # transforms

    def transforms(
        self, transforms: Any, path: PathParts, available: frozenset[str] | None
    ) -> frozenset[str] | None:
        if not isinstance(transforms, list):
            return available
        for index, transform in enumerate(transforms):
            if isinstance(transform, dict):
                available = self.transform(transform, (*path, index), available)
        return available

    def transform(
        self, t: dict[str, Any], path: PathParts, available: frozenset[str] | None
    ) -> frozenset[str] | None:
        # One branch per Vega-Lite transform: it reads best as a table of their rules.
        groupby = _strings(t.get("groupby"))
        self.refs(t.get("groupby"), (*path, "groupby"), available)
        kept = frozenset(literal_name(name) for name in groupby)

        if "aggregate" in t:
            made = self.field_defs(t["aggregate"], (*path, "aggregate"), available)
            return kept | made
        if "joinaggregate" in t:
            made = self.field_defs(t["joinaggregate"], (*path, "joinaggregate"), available)
            return _add(available, made)
        if "window" in t:
            self.sort_fields(t.get("sort"), (*path, "sort"), available)
            return _add(available, self.field_defs(t["window"], (*path, "window"), available))
        if "calculate" in t:
            self.expression(t["calculate"], (*path, "calculate"), available)
            return _add(available, _strings([t.get("as")]))
        if "filter" in t:
            self.predicate(t["filter"], (*path, "filter"), available)
            return available
        if "bin" in t or "stack" in t:
            key = "field" if "bin" in t else "stack"
            self.ref(t.get(key), (*path, key), available)
            self.sort_fields(t.get("sort"), (*path, "sort"), available)
            return _add(available, _range_names(t.get("as")))
        if "timeUnit" in t:
            self.ref(t.get("field"), (*path, "field"), available)
            return _add(available, _strings([t.get("as")]))
        if "fold" in t:
            self.refs(t["fold"], (*path, "fold"), available)
            return _add(available, _strings(t.get("as")) or ["key", "value"])
        if "flatten" in t:
            self.refs(t["flatten"], (*path, "flatten"), available)
            names = _strings(t.get("as")) or [literal_name(n) for n in _strings(t["flatten"])]
            return _add(available, names)
        if "impute" in t:
            self.ref(t["impute"], (*path, "impute"), available)
            self.ref(t.get("key"), (*path, "key"), available)
            return available
        if "lookup" in t:
            self.ref(t["lookup"], (*path, "lookup"), available)
            source = t.get("from")
            fields = _strings(source.get("fields")) if isinstance(source, dict) else []
            return _add(available, _strings(_listify(t.get("as"))) or fields)
        if "extent" in t:
            self.ref(t["extent"], (*path, "extent"), available)
            return available
        if "pivot" in t:
            self.ref(t["pivot"], (*path, "pivot"), available)
            self.ref(t.get("value"), (*path, "value"), available)
            return None
        for key, default in (
            ("density", ["value", "density"]),
            ("quantile", ["prob", "value"]),
            ("loess", None),
            ("regression", None),
        ):
            if key in t:
                self.ref(t[key], (*path, key), available)
                self.ref(t.get("on"), (*path, "on"), available)
                if default is None:
                    default = [literal_name(str(t.get("on"))), literal_name(str(t[key]))]
                return kept | frozenset(_strings(t.get("as")) or default)
        return available  # sample, or a shape the schema check already reports

    def field_defs(
        self, defs: Any, path: PathParts, available: frozenset[str] | None
    ) -> frozenset[str]:
        made: set[str] = set()
        if isinstance(defs, list):
            for index, item in enumerate(defs):
                if isinstance(item, dict):
                    self.ref(item.get("field"), (*path, index, "field"), available)
                    made.update(_strings([item.get("as")]))
        return frozenset(made)

    def sort_fields(self, sort: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if isinstance(sort, list):
            for index, item in enumerate(sort):
                if isinstance(item, dict):
                    self.ref(item.get("field"), (*path, index, "field"), available)

    def predicate(self, predicate: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if isinstance(predicate, str):
            self.expression(predicate, path, available)
        elif isinstance(predicate, dict):
            self.ref(predicate.get("field"), (*path, "field"), available)
            for key in ("and", "or"):
                if isinstance(predicate.get(key), list):
                    for index, item in enumerate(predicate[key]):
                        self.predicate(item, (*path, key, index), available)
            if "not" in predicate:
                self.predicate(predicate["not"], (*path, "not"), available)

    # references

    def refs(self, names: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if isinstance(names, list):
            for index, name in enumerate(names):
                self.ref(name, (*path, index), available)

    def ref(self, field: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if available is None or not isinstance(field, str):
            return
        literal = literal_name(field)
        if not has_unescaped_access(field):
            if literal not in available:
                self.problems.append((path, self.unknown(literal, available)))
            return
        if root_name(field) in available:
            return  # nested access into a column holding objects (PostgreSQL json)
        if literal in available:
            self.problems.append(
                (
                    path,
                    f"Vega-Lite reads {json.dumps(field)} as a nested path; to name the column "
                    f"{json.dumps(literal)} write {json.dumps(escape_field(literal))}.",
                )
            )
            return
        self.problems.append((path, self.unknown(literal, available)))

    def expression(self, expr: Any, path: PathParts, available: frozenset[str] | None) -> None:
        if available is None or not isinstance(expr, str):
            return
        names = _DATUM_DOT_RE.findall(expr) + [m[1] for m in _DATUM_INDEX_RE.findall(expr)]
        for name in dict.fromkeys(names):
            if name not in available:
                self.problems.append(
                    (path, f"The expression reads datum.{name}: {self.unknown(name, available)}")
                )

    def unknown(self, name: str, available: frozenset[str]) -> str:
        known = list(dict.fromkeys([*self.columns, *sorted(available)]))
        known = [k for k in known if k in available]
        hint = difflib.get_close_matches(name, known, n=1)
        did_you_mean = f" Did you mean {json.dumps(hint[0])}?" if hint else ""
        listed = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        return (
            f"There is no column or calculated field named {json.dumps(name)}.{did_you_mean} "
            f"Available here: {listed or 'none'}."
        )


def _strings(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _range_names(value: Any) -> list[str]:
    """`as` of bin and stack: "x" makes x and x_end; a list names both."""
    if isinstance(value, str):
        return [value, f"{value}_end"]
    return _strings(value)


def _add(available: frozenset[str] | None, names: Iterable[str]) -> frozenset[str] | None:
    return None if available is None else available | frozenset(names)
