"""Charts for artifacts: Vega-Lite specs checked, suggested and drawn.

- `validate_visualization(spec, columns=...)` -> [ChartProblem]: the official schema plus our
  rules (only the named dataset "results", no URLs, fields that exist).
- `suggest_visualization(columns, rows_sample)` -> a spec, or {} for table only.
- `render_chart(spec, columns, rows, fmt=..., ...)` -> SVG/PNG bytes, drawn on the server.
- `chart_payload(spec, columns, rows, truncated)` -> what vega-embed needs in the page.
"""

from __future__ import annotations

from apps.llm_artifact.charts.render import (
    MAX_CHART_POINTS,
    ChartRenderError,
    chart_payload,
    chart_records,
    render_chart,
)
from apps.llm_artifact.charts.suggest import suggest_visualization
from apps.llm_artifact.charts.validation import (
    DATASET_NAME,
    SCHEMA_URL,
    ChartProblem,
    Severity,
    validate_visualization,
)

__all__ = [
    "DATASET_NAME",
    "MAX_CHART_POINTS",
    "SCHEMA_URL",
    "ChartProblem",
    "ChartRenderError",
    "Severity",
    "chart_payload",
    "chart_records",
    "render_chart",
    "suggest_visualization",
    "validate_visualization",
]
