"""Drawing a chart: the run's rows meet the stored spec, on the server or in the browser.

The stored spec never holds data; its `{"data": {"name": "results"}}` is filled here, in a
copy, at render time. Server-side images come from vl-convert (Vega-Lite compiled and
rendered in an embedded JavaScript engine, no browser), with every URL fetch refused. At
most MAX_CHART_POINTS rows are drawn, and a chart that does not show every row says so in
its subtitle.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import vl_convert
from django.utils.translation import gettext

from apps.core.json import MAX_STORED_DEPTH, json_problem
from apps.llm_artifact.charts.fields import column_name
from apps.llm_artifact.charts.schema import vega_lite_version
from apps.llm_artifact.charts.validation import DATASET_NAME, ChartProblem, validate_visualization

MAX_CHART_POINTS = 10_000
# "container" width has no container on the server: draw at a common content width.
DEFAULT_WIDTH = 640
DEFAULT_HEIGHT = 360
MAX_DIMENSION = 4_000
MAX_SCALE = 4

Format = Literal["svg", "png"]


class ChartRenderError(Exception):
    """The chart cannot be drawn: no chart, an invalid spec, or the renderer refused it."""

    def __init__(self, message: str, problems: list[ChartProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


def chart_records(
    columns: Sequence[Any], rows: Sequence[Sequence[Any]], truncated: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """The rows as JSON-ready records (at most MAX_CHART_POINTS), and the note to show.

    The note ("Showing the first 1,000 rows") is None when every row of the result is drawn.
    """
    names = _names(columns)
    shown = rows[:MAX_CHART_POINTS]
    records = [dict(zip(names, map(_json_value, row), strict=False)) for row in shown]
    partial = truncated or len(rows) > MAX_CHART_POINTS
    note = None
    if partial:
        note = (
            f"Showing the first {len(records):,} rows"
            if len(records) != 1
            else "Showing the first row"
        )
    return records, note


def chart_payload(
    spec: dict[str, Any],
    columns: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    truncated: bool,
) -> dict[str, Any]:
    """What a page needs to draw the chart with vega-embed; {} for a table-only artifact.

    Returns `{"spec": ..., "datasets": {"results": [records]}, "errors": [...]}`:
    - `spec`: the stored spec (a copy) with the "Showing the first N rows" subtitle added
      when the result was truncated or capped; it still holds no data.
    - `datasets`: the rows as records, keyed by column name, values JSON-ready.
    - `errors`: the spec's validation errors (`ChartProblem.as_dict()`); when non-empty show
      them instead of embedding.

    In the template, `{{ chart|json_script:"chart-<id>" }}`, then in JavaScript::

        const chart = JSON.parse(document.getElementById("chart-<id>").textContent);
        if (!chart.errors.length) {
          // mode "vega-lite" so a spec can never switch vega-embed to the Vega language.
          vegaEmbed(el, {...chart.spec, datasets: chart.datasets}, {
            mode: "vega-lite",
            actions: {export: true, source: false, compiled: false, editor: false},
          });
        }

    The chat card passes `actions: false` and a fixed `height`. The editor's live preview
    re-runs the same call with the spec being typed (`{...typedSpec, datasets:
    chart.datasets}`), so the rows load once. Alternatively embed the spec alone and load
    the rows through the view API: `const {view} = await vegaEmbed(el, chart.spec, opts);
    await view.data("results", chart.datasets.results).runAsync();` (`view.insert(...)`
    appends instead of replacing).
    """
    if not spec:
        return {}
    names = _names(columns)
    errors = [p.as_dict() for p in validate_visualization(spec, columns=names) if p.is_error]
    records, note = chart_records(columns, rows, truncated)
    return {
        # A spec stored before it was bounded may be too deep to put in the page at all.
        "spec": None if json_problem(spec, max_depth=MAX_STORED_DEPTH) else _with_note(spec, note),
        "datasets": {DATASET_NAME: records},
        "errors": errors,
    }


def render_chart(
    spec: dict[str, Any],
    columns: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    *,
    fmt: Format = "svg",
    width: int | None = None,
    height: int | None = None,
    scale: float = 1,
    truncated: bool = False,
) -> bytes:
    """The chart as SVG (UTF-8 bytes) or PNG bytes.

    `columns` are names or ResultColumn-like objects, `rows` lists aligned with them.
    For a single view (a mark or a layer) `width` and `height` are the size of the whole
    image in CSS pixels, axes and legend included; a PNG is `scale` times that in pixels.
    Charts of several views (concat, facet, repeat) keep their own sizes.
    Bad options raise ValueError; a missing or invalid chart raises ChartRenderError.
    """
    _check_options(fmt, width, height, scale)
    if not spec:
        raise ChartRenderError(gettext("This artifact has no chart; it is shown as a table."))
    errors = [p for p in validate_visualization(spec, columns=_names(columns)) if p.is_error]
    if errors:
        raise ChartRenderError(
            gettext("The chart spec is not valid: %(problem)s") % {"problem": errors[0]},
            problems=errors,
        )
    records, note = chart_records(columns, rows, truncated)
    drawn = _sized(_with_note(spec, note), width, height)
    drawn["datasets"] = {DATASET_NAME: records}
    options: dict[str, Any] = {"vl_version": _vl_version(), "allowed_base_urls": []}
    try:
        if fmt == "svg":
            return vl_convert.vegalite_to_svg(json.dumps(drawn), **options).encode("utf-8")
        return vl_convert.vegalite_to_png(json.dumps(drawn), scale=scale, **options)
    except ValueError as exc:
        raise ChartRenderError(_renderer_message(exc)) from exc


def _check_options(fmt: str, width: int | None, height: int | None, scale: float) -> None:
    if fmt not in ("svg", "png"):
        raise ValueError(f'The format must be "svg" or "png", not {fmt!r}.')
    for name, value in (("width", width), ("height", height)):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DIMENSION
        ):
            raise ValueError(
                gettext("The %(name)s must be a whole number from 1 to %(max)s.")
                % {"name": name, "max": MAX_DIMENSION}
            )
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= MAX_SCALE:
        raise ValueError(
            gettext("The scale must be a number above 0 and at most %(max)s.") % {"max": MAX_SCALE}
        )


def _with_note(spec: dict[str, Any], note: str | None) -> dict[str, Any]:
    drawn = copy.deepcopy(spec)
    if note is None:
        return drawn
    title = drawn.get("title")
    if isinstance(title, dict):
        existing = title.get("subtitle")
        lines = existing if isinstance(existing, list) else [existing] if existing else []
        title["subtitle"] = [*lines, note]
    elif title:
        drawn["title"] = {"text": title, "subtitle": note}
    else:
        # Vega drops a subtitle whose title text is empty; a space keeps it.
        drawn["title"] = {"text": " ", "subtitle": note}
    return drawn


def _sized(spec: dict[str, Any], width: int | None, height: int | None) -> dict[str, Any]:
    if "mark" not in spec and "layer" not in spec:
        return spec
    if width is None and spec.get("width") == "container":
        width = DEFAULT_WIDTH
    if height is None and spec.get("height") == "container":
        height = DEFAULT_HEIGHT
    if width is not None:
        spec["width"] = width
    if height is not None:
        spec["height"] = height
    fit = {(True, True): "fit", (True, False): "fit-x", (False, True): "fit-y"}.get(
        (width is not None, height is not None)
    )
    if fit:
        # "padding" makes the size the whole image, so a PNG is exactly width x height.
        spec["autosize"] = {"type": fit, "contains": "padding"}
    return spec


@functools.cache
def _vl_version() -> str | None:
    """Draw with the Vega-Lite the browser uses; else vl-convert's newest bundled one."""
    major_minor = ".".join(vega_lite_version().split(".")[:2])
    return major_minor if major_minor in vl_convert.get_vegalite_versions() else None


def _renderer_message(exc: ValueError) -> str:
    # vl-convert reports "<conversion> failed:\n<JS error>\n    at <stack>...".
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next((line for line in lines[1:] if not line.startswith("at ")), "")
    if not detail:
        detail = lines[0] if lines else "the renderer gave no reason"
    return f"The chart could not be drawn: {detail}"


def _names(columns: Sequence[Any]) -> list[str]:
    return [column_name(column) for column in columns]


def _json_value(value: Any) -> Any:
    """A value Vega can read; JSON has no NaN, Decimal or date."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # nothing a chart can draw
    return str(value)  # UUID, PostgreSQL intervals and the like: shown as text
