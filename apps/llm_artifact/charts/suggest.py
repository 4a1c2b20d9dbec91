"""Proposing a first chart from a result's columns ("Suggest chart").

Time plus a number gives a line, a category plus a number gives bars sorted by size, two
numbers give a scatter plot; anything else stays a table. SQLite hands dates back as ISO
text, so a sample of rows, when given, lets text columns that hold dates count as time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.llm_artifact.charts.fields import column_name, escape_field
from apps.llm_artifact.charts.validation import DATASET_NAME, SCHEMA_URL

_TEMPORAL_TYPES = {"date", "datetime"}
_NUMERIC_TYPES = {"integer", "number"}
_CATEGORY_TYPES = {"text", "boolean"}
_ISO_DATE_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
# Keys count rows; they are never the measure anyone wants plotted.
_ID_RE = re.compile(r"(^|_)id$", re.IGNORECASE)
# A colour per series only helps while the legend stays short.
_MAX_SERIES = 10
_MAX_TOOLTIP_FIELDS = 6


@dataclass(frozen=True)
class _Column:
    name: str
    kind: str | None  # a Vega-Lite type: "temporal", "quantitative", "nominal"; None = unusable
    distinct: int | None  # distinct values in the sample, when there was one


def suggest_visualization(
    columns: Sequence[Any], rows_sample: Sequence[Sequence[Any]] | None = None
) -> dict[str, Any]:
    """A Vega-Lite spec for the result, or {} when a table shows it best.

    `columns` are ResultColumn-like (`.name` and `.type`) or dicts with those keys;
    `rows_sample` is a few rows (lists aligned with the columns) used to recognise dates
    stored as text and to decide whether a category is short enough to colour by.
    """
    classified = _classify(columns, rows_sample)
    times = [c for c in classified if c.kind == "temporal"]
    categories = [c for c in classified if c.kind == "nominal"]
    measures = [c for c in classified if c.kind == "quantitative" and not _ID_RE.search(c.name)]
    few_series = [c for c in categories if c.distinct is not None and c.distinct <= _MAX_SERIES]

    if times and measures:
        return _line(times[0], measures[0], few_series[0] if few_series else None)
    if categories and measures:
        return _bar(categories[0], measures[0])
    if len(measures) >= 2:
        return _scatter(measures[0], measures[1], few_series[0] if few_series else None)
    return {}


def _classify(columns: Sequence[Any], rows: Sequence[Sequence[Any]] | None) -> list[_Column]:
    out = []
    for index, column in enumerate(columns):
        name, declared = _name_and_type(column)
        values = None
        if rows:
            values = [row[index] for row in rows if index < len(row) and row[index] is not None]
        out.append(
            _Column(
                name=name,
                kind=_kind(declared, values),
                distinct=len({repr(v) for v in values}) if values is not None else None,
            )
        )
    return out


def _name_and_type(column: Any) -> tuple[str, str]:
    if isinstance(column, Mapping):
        return column_name(column), str(column.get("type", "unknown"))
    return column_name(column), str(getattr(column, "type", "unknown"))


def _kind(declared: str, values: list[Any] | None) -> str | None:
    if declared in _TEMPORAL_TYPES:
        return "temporal"
    if declared in _NUMERIC_TYPES:
        return "quantitative"
    if values:  # text or unknown: let the data say what it is
        if all(_looks_temporal(v) for v in values):
            return "temporal"
        if declared == "unknown" and all(_is_number(v) for v in values):
            return "quantitative"
    if declared in _CATEGORY_TYPES:
        return "nominal"
    return None


def _looks_temporal(value: Any) -> bool:
    if isinstance(value, dt.date):
        return True
    return isinstance(value, str) and bool(_ISO_DATE_RE.match(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# --- the three charts ------------------------------------------------------------------------


def _base(title: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_URL,
        "data": {"name": DATASET_NAME},
        "title": title,
        "width": "container",
    }


def _xy_encoding(
    x: _Column, y: _Column, series: _Column | None, tooltip: list[_Column | None]
) -> dict[str, Any]:
    """x and y, the series (when there is one) on colour, then the tooltip in that order."""
    encoding = {"x": _encode(x), "y": _encode(y)}
    if series is not None:
        encoding["color"] = _encode(series)
    encoding["tooltip"] = _tooltip(tooltip)
    return encoding


def _line(time: _Column, measure: _Column, series: _Column | None) -> dict[str, Any]:
    spec = _base(f"{_label(measure.name)} by {_label(time.name, inline=True)}")
    spec["height"] = 300
    spec["mark"] = {"type": "line", "point": True}
    spec["encoding"] = _xy_encoding(time, measure, series, [time, series, measure])
    return spec


def _bar(category: _Column, measure: _Column) -> dict[str, Any]:
    # Horizontal bars keep long category labels readable, largest first.
    spec = _base(f"{_label(measure.name)} by {_label(category.name, inline=True)}")
    spec["mark"] = {"type": "bar"}
    spec["encoding"] = {
        "y": {**_encode(category), "sort": "-x"},
        "x": _encode(measure),
        "tooltip": _tooltip([category, measure]),
    }
    return spec


def _scatter(x: _Column, y: _Column, series: _Column | None) -> dict[str, Any]:
    spec = _base(f"{_label(y.name)} vs {_label(x.name, inline=True)}")
    spec["height"] = 300
    # Translucent filled points keep dense clouds (up to the 10,000-point cap) readable.
    spec["mark"] = {"type": "point", "filled": True, "opacity": 0.6}
    spec["encoding"] = _xy_encoding(x, y, series, [series, x, y])
    return spec


def _encode(column: _Column) -> dict[str, Any]:
    return {"field": escape_field(column.name), "type": column.kind, "title": _label(column.name)}


def _tooltip(columns: list[_Column | None]) -> list[dict[str, Any]]:
    tips = []
    for column in columns[:_MAX_TOOLTIP_FIELDS]:
        if column is None:
            continue
        tip = _encode(column)
        if column.kind == "quantitative":
            tip["format"] = ","
        tips.append(tip)
    return tips


def _label(name: str, *, inline: bool = False) -> str:
    """`orders_count` -> "Orders count" ("orders count" inside a sentence).

    Names that are not plain snake_case ("COUNT(*)", "Total EUR") stay as written.
    """
    words = name.replace("_", " ").strip()
    if not re.fullmatch(r"[a-z0-9_]+", name) or not words:
        return name
    return words if inline else words[:1].upper() + words[1:]
