"""Charts: validating, suggesting and drawing Vega-Lite specs over an artifact's results."""

from __future__ import annotations

import datetime as dt
import json
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal

import pytest
from jsonschema import Draft7Validator

from apps.llm_artifact.charts import (
    MAX_CHART_POINTS,
    SCHEMA_URL,
    ChartProblem,
    ChartRenderError,
    Severity,
    chart_payload,
    chart_records,
    render_chart,
    suggest_visualization,
    validate_visualization,
)
from apps.llm_artifact.charts.schema import load_schema, validator

SVG = "{http://www.w3.org/2000/svg}"
RESULTS = {"name": "results"}
COLUMNS = ["ordered_at", "status", "country", "orders", "revenue"]


@dataclass(frozen=True)
class Column:
    """Shaped like the executor's ResultColumn."""

    name: str
    type: str


def chart(**parts) -> dict:
    return {"$schema": SCHEMA_URL, "data": RESULTS, **parts}


def x_y(x: str, x_type: str, y: str = "orders") -> dict:
    return {"x": {"field": x, "type": x_type}, "y": {"field": y, "type": "quantitative"}}


def errors_of(spec, columns=COLUMNS) -> list[ChartProblem]:
    return [p for p in validate_visualization(spec, columns=columns) if p.is_error]


def paths(spec, columns=COLUMNS) -> list[str]:
    return [p.path for p in errors_of(spec, columns)]


# --- validation: accepted ---------------------------------------------------------------------

VALID_SPECS = {
    "bar": chart(mark="bar", encoding=x_y("status", "nominal")),
    "line": chart(mark={"type": "line", "point": True}, encoding=x_y("ordered_at", "temporal")),
    "point": chart(mark="point", encoding=x_y("revenue", "quantitative")),
    "area": chart(
        mark="area",
        encoding={**x_y("ordered_at", "temporal"), "color": {"field": "status", "type": "nominal"}},
    ),
    "arc": chart(
        mark={"type": "arc", "innerRadius": 40},
        encoding={
            "theta": {"field": "orders", "type": "quantitative", "stack": True},
            "color": {"field": "status", "type": "nominal"},
        },
    ),
    "heatmap": chart(
        mark="rect",
        encoding={
            "x": {"field": "status", "type": "nominal"},
            "y": {"field": "country", "type": "nominal"},
            "color": {"field": "revenue", "type": "quantitative", "aggregate": "sum"},
        },
    ),
    "layer": chart(
        encoding=x_y("status", "nominal"),
        layer=[
            {"mark": "bar"},
            {"mark": {"type": "text", "dy": -6}, "encoding": {"text": {"field": "orders"}}},
            {"mark": "rule", "encoding": {"y": {"aggregate": "mean", "field": "orders"}}},
        ],
    ),
    "tooltip list and sort": chart(
        mark="bar",
        encoding={
            "y": {"field": "status", "type": "nominal", "sort": "-x"},
            "x": {"field": "orders", "type": "quantitative"},
            "tooltip": [{"field": "status"}, {"field": "revenue", "format": ",.2f"}],
        },
    ),
    "facet": chart(
        facet={"field": "country", "type": "nominal"},
        spec={"mark": "bar", "encoding": x_y("status", "nominal")},
    ),
    "hconcat": chart(
        hconcat=[
            {"mark": "bar", "encoding": x_y("status", "nominal")},
            {"mark": "line", "encoding": x_y("ordered_at", "temporal", "revenue")},
        ]
    ),
    "repeat": chart(
        repeat=["orders", "revenue"],
        spec={
            "mark": "bar",
            "encoding": {
                "x": {"field": "status", "type": "nominal"},
                "y": {"field": {"repeat": "repeat"}, "type": "quantitative"},
            },
        },
    ),
}


@pytest.mark.parametrize("spec", VALID_SPECS.values(), ids=VALID_SPECS.keys())
def test_accepts_common_chart_types(spec):
    assert validate_visualization(spec, columns=COLUMNS) == []


def test_empty_spec_means_table_only():
    assert validate_visualization({}, columns=COLUMNS) == []
    assert validate_visualization({}, columns=None) == []


def test_validates_with_the_draft_the_official_schema_declares():
    schema = load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert isinstance(validator(), Draft7Validator)
    Draft7Validator.check_schema(schema)
    assert validator() is validator()  # built once per process


# --- validation: the schema, with the path named ----------------------------------------------


def test_rejects_unknown_mark_naming_the_path():
    [error] = errors_of(chart(mark="barz", encoding=x_y("status", "nominal")))
    assert error.path == "mark"
    assert '"barz"' in error.message
    assert '"bar"' in error.message and '"line"' in error.message


def test_rejects_unknown_mark_type_inside_a_mark_definition():
    [error] = errors_of(chart(mark={"type": "pie"}))
    assert error.path == "mark.type"
    assert '"pie" is not one of' in error.message
    assert '"arc"' in error.message


def test_rejects_wrong_encoding_type_naming_the_path():
    spec = chart(mark="bar", encoding={"x": {"field": "status", "type": "categorical"}})
    [error] = errors_of(spec)
    assert error.path == "encoding.x.type"
    assert '"nominal"' in error.message


def test_rejects_a_value_of_the_wrong_json_type():
    [error] = errors_of(chart(mark="bar", width="wide"))
    assert error.path == "width"
    assert '"wide"' in error.message and "a number" in error.message


def test_rejects_unknown_property_with_a_suggestion():
    [error] = errors_of(chart(mark="bar", encoding={"xx": {"field": "status"}}))
    assert error.path == "encoding.xx"
    assert "Unknown property 'xx'" in error.message
    assert "Did you mean 'x'?" in error.message


def test_names_the_path_inside_a_nested_layer():
    spec = chart(layer=[{"mark": "line"}, {"mark": "pointy"}])
    assert paths(spec) == ["layer[1].mark"]


def test_schema_messages_stay_short_and_plain():
    bad = [
        chart(mark="barz"),
        chart(mark="bar", encoding={"x": {"field": 3}}),
        chart(mark="bar", transform=[{"calculat": "1", "as": "x"}]),
        chart(mark="bar", encoding={"color": {"field": "status", "scale": {"scheme": 5}}}),
    ]
    for spec in bad:
        for error in errors_of(spec):
            assert "is not valid under any of the given schemas" not in error.message
            assert len(error.message) < 400


# --- validation: data only from the run -------------------------------------------------------


def test_rejects_inline_data_values():
    spec = {"data": {"values": [{"status": "paid", "orders": 3}]}, "mark": "bar"}
    [error] = errors_of(spec)
    assert error.path == "data.values"
    assert "Inline data is not allowed" in error.message


def test_rejects_url_data():
    spec = {"data": {"url": "https://example.com/orders.json"}, "mark": "bar"}
    assert paths(spec) == ["data.url"]


def test_rejects_url_data_in_a_nested_layer():
    spec = chart(
        layer=[
            {"mark": "bar", "encoding": x_y("status", "nominal")},
            {"data": {"url": "https://example.com/leak.csv"}, "mark": "rule"},
        ]
    )
    [error] = errors_of(spec)
    assert error.path == "layer[1].data.url"
    assert "URL" in error.message


def test_rejects_other_named_data_embedded_datasets_and_missing_data():
    assert paths({"data": {"name": "secrets"}, "mark": "bar"}) == ["data.name"]
    assert paths(chart(mark="bar", datasets={"results": [{"a": 1}]})) == ["datasets"]
    assert paths({"mark": "bar"}) == ["data"]
    assert paths({"data": {"sequence": {"start": 0, "stop": 9}}, "mark": "bar"}) == [
        "data.sequence"
    ]


def test_rejects_lookup_from_url_data():
    spec = chart(
        mark="bar",
        transform=[
            {
                "lookup": "status",
                "from": {"data": {"url": "https://example.com/x.csv"}, "key": "status"},
            }
        ],
    )
    assert "transform[0].from.data.url" in paths(spec)


def test_rejects_images_and_links_that_reach_the_network():
    images = chart(mark="image", encoding={"url": {"field": "status"}})
    assert set(paths(images)) == {"mark", "encoding.url"}
    links = chart(mark="bar", encoding={"href": {"field": "status"}})
    assert paths(links) == ["encoding.href"]


def test_rejects_embed_options_smuggled_in_usermeta():
    spec = chart(mark="bar", usermeta={"embedOptions": {"mode": "vega", "patch": []}})
    assert paths(spec) == ["usermeta.embedOptions"]
    notes = chart(mark="bar", encoding=x_y("status", "nominal"), usermeta={"note": "ok"})
    assert validate_visualization(notes, columns=COLUMNS) == []


def test_rejects_a_vega_spec_and_warns_about_an_older_vega_lite():
    vega = chart(mark="bar")
    vega["$schema"] = "https://vega.github.io/schema/vega/v5.json"
    assert paths(vega) == ["$schema"]
    older = chart(mark="bar")
    older["$schema"] = "https://vega.github.io/schema/vega-lite/v5.json"
    [warning] = validate_visualization(older, columns=COLUMNS)
    assert warning.severity == Severity.WARNING and warning.path == "$schema"


def test_rejects_a_spec_that_is_not_an_object_or_far_too_large():
    assert paths([]) == [""]
    huge = chart(mark="bar", description="x" * 200_000)
    [error] = errors_of(huge)
    assert "limit" in error.message


# --- validation: fields against the last run's columns ---------------------------------------


def test_rejects_unknown_field_naming_the_path():
    [error] = errors_of(chart(mark="bar", encoding=x_y("status", "nominal", "ordrs")))
    assert error.path == "encoding.y.field"
    assert '"ordrs"' in error.message and 'Did you mean "orders"?' in error.message


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (
            chart(layer=[{"mark": "bar", "encoding": x_y("statuss", "nominal")}]),
            "layer[0].encoding.x.field",
        ),
        (
            chart(mark="bar", encoding={"tooltip": [{"field": "status"}, {"field": "nope"}]}),
            "encoding.tooltip[1].field",
        ),
        (
            chart(
                mark="bar",
                encoding={"x": {"field": "status", "sort": {"field": "nope", "op": "sum"}}},
            ),
            "encoding.x.sort.field",
        ),
        (chart(facet={"field": "nope"}, spec={"mark": "bar"}), "facet.field"),
        (chart(repeat=["orders", "nope"], spec={"mark": "bar"}), "repeat[1]"),
        (
            chart(mark="bar", transform=[{"filter": {"field": "nope", "equal": 1}}]),
            "transform[0].filter.field",
        ),
        (
            chart(mark="bar", transform=[{"calculate": "datum.nope * 2", "as": "x"}]),
            "transform[0].calculate",
        ),
        (
            chart(
                mark="bar",
                transform=[{"aggregate": [{"op": "sum", "field": "nope", "as": "t"}]}],
            ),
            "transform[0].aggregate[0].field",
        ),
    ],
)
def test_rejects_unknown_fields_wherever_they_appear(spec, path):
    assert paths(spec) == [path]


def test_accepts_fields_made_by_transforms():
    spec = chart(
        transform=[
            {"calculate": "datum.revenue / datum.orders", "as": "avg_order"},
            {"timeUnit": "yearmonth", "field": "ordered_at", "as": "month"},
            {"bin": True, "field": "revenue", "as": "revenue_bin"},
            {"window": [{"op": "rank", "as": "rank"}], "sort": [{"field": "revenue"}]},
            {"joinaggregate": [{"op": "sum", "field": "revenue", "as": "total"}]},
            {"calculate": "datum.revenue / datum.total", "as": "share"},
            {"fold": ["orders", "revenue"]},
            {"stack": "value", "groupby": ["month"], "as": "stacked"},
        ],
        layer=[
            {
                "mark": "bar",
                "encoding": {
                    "x": {"field": "revenue_bin", "bin": {"binned": True}},
                    "x2": {"field": "revenue_bin_end"},
                    "y": {"field": "stacked", "type": "quantitative"},
                    "y2": {"field": "stacked_end"},
                    "color": {"field": "key", "type": "nominal"},
                },
            },
            {
                "mark": "point",
                "encoding": {
                    "x": {"field": "month", "type": "temporal"},
                    "y": {"field": "share", "type": "quantitative"},
                    "size": {"field": "avg_order", "type": "quantitative"},
                    "tooltip": [{"field": "rank"}, {"field": "value"}],
                },
            },
        ],
    )
    assert validate_visualization(spec, columns=COLUMNS) == []


def test_accepts_default_output_names_of_density_and_regression():
    density = chart(
        transform=[{"density": "revenue", "groupby": ["status"]}],
        mark="area",
        encoding={
            "x": {"field": "value", "type": "quantitative"},
            "y": {"field": "density", "type": "quantitative"},
            "color": {"field": "status", "type": "nominal"},
        },
    )
    regression = chart(
        transform=[{"regression": "revenue", "on": "orders"}],
        mark="line",
        encoding=x_y("orders", "quantitative", "revenue"),
    )
    assert validate_visualization(density, columns=COLUMNS) == []
    assert validate_visualization(regression, columns=COLUMNS) == []


def test_an_aggregate_transform_leaves_only_its_groups_and_outputs():
    spec = chart(
        transform=[
            {"aggregate": [{"op": "sum", "field": "revenue", "as": "total"}], "groupby": ["status"]}
        ],
        mark="bar",
        encoding={**x_y("status", "nominal", "total"), "color": {"field": "country"}},
    )
    [error] = errors_of(spec)
    assert error.path == "encoding.color.field"
    assert "status, total" in error.message


def test_a_transform_field_is_only_visible_in_its_own_view():
    spec = chart(
        layer=[
            {"transform": [{"calculate": "1", "as": "one"}], "mark": "rule"},
            {"mark": "bar", "encoding": x_y("status", "nominal", "one")},
        ]
    )
    assert paths(spec) == ["layer[1].encoding.y.field"]


def test_fields_after_a_pivot_are_not_checked():
    spec = chart(
        transform=[{"pivot": "status", "value": "orders", "groupby": ["country"]}],
        mark="bar",
        encoding=x_y("country", "nominal", "paid"),
    )
    assert validate_visualization(spec, columns=COLUMNS) == []


def test_columns_with_dots_must_be_escaped():
    columns = ["status", "total.eur"]
    escaped = chart(mark="bar", encoding=x_y("status", "nominal", "total\\.eur"))
    assert validate_visualization(escaped, columns=columns) == []
    [error] = errors_of(chart(mark="bar", encoding=x_y("status", "nominal", "total.eur")), columns)
    assert error.path == "encoding.y.field"
    assert json.dumps("total\\.eur") in error.message


def test_without_a_successful_run_fields_are_a_warning_not_an_error():
    spec = chart(mark="bar", encoding=x_y("anything", "nominal"))
    [warning] = validate_visualization(spec, columns=None)
    assert warning.severity == Severity.WARNING
    assert not warning.is_error
    assert "no successful run" in warning.message
    # The data rules still apply without columns.
    bad = {"data": {"url": "https://example.com"}, "mark": "bar"}
    problems = validate_visualization(bad, columns=None)
    assert [p.path for p in problems if p.is_error] == ["data.url"]


def test_chart_error_reads_well_and_serialises():
    [error] = errors_of(chart(mark="barz"))
    assert str(error).startswith("mark: ")
    assert error.as_dict() == {"path": "mark", "message": error.message, "severity": "error"}


# --- suggestions ------------------------------------------------------------------------------


def test_suggests_a_line_for_time_and_a_number():
    columns = [Column("ordered_at", "date"), Column("revenue", "number")]
    spec = suggest_visualization(columns)
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"] == {
        "field": "ordered_at",
        "type": "temporal",
        "title": "Ordered at",
    }
    assert spec["encoding"]["y"]["field"] == "revenue"
    assert spec["data"] == RESULTS and spec["$schema"] == SCHEMA_URL
    assert spec["width"] == "container"
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["ordered_at", "revenue"]
    assert validate_visualization(spec, columns=["ordered_at", "revenue"]) == []


def test_recognises_dates_stored_as_text_from_the_sample():
    columns = [{"name": "day", "type": "text"}, {"name": "status", "type": "text"}]
    columns.append({"name": "orders", "type": "integer"})
    sample = [["2024-01-01", "paid", 3], ["2024-01-02", "new", 5], ["2024-01-02", "paid", 1]]
    spec = suggest_visualization(columns, sample)
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["type"] == "temporal"
    # Two statuses in the sample: one line per status.
    assert spec["encoding"]["color"]["field"] == "status"
    assert validate_visualization(spec, columns=["day", "status", "orders"]) == []


def test_suggests_bars_sorted_largest_first_for_a_category_and_a_number():
    columns = [Column("id", "integer"), Column("status", "text"), Column("order_count", "integer")]
    spec = suggest_visualization(columns)
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["field"] == "status"
    assert spec["encoding"]["y"]["sort"] == "-x"
    assert spec["encoding"]["x"]["field"] == "order_count"  # never the id
    assert spec["title"] == "Order count by status"
    assert validate_visualization(spec, columns=["id", "status", "order_count"]) == []


def test_suggests_a_scatter_for_two_numbers():
    columns = [
        Column("seller_id", "integer"),
        Column("price", "number"),
        Column("rating", "number"),
    ]
    spec = suggest_visualization(columns)
    assert spec["mark"]["type"] == "point"
    assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == ("price", "rating")
    assert validate_visualization(spec, columns=["seller_id", "price", "rating"]) == []


@pytest.mark.parametrize(
    "columns",
    [
        [Column("name", "text"), Column("email", "text")],
        [Column("id", "integer"), Column("name", "text")],
        [Column("revenue", "number")],
        [Column("blob", "unknown")],
        [],
    ],
)
def test_suggests_a_table_when_no_chart_fits(columns):
    assert suggest_visualization(columns) == {}


def test_suggestion_escapes_column_names_with_dots():
    columns = [Column("status", "text"), Column("total.eur", "number")]
    spec = suggest_visualization(columns)
    assert spec["encoding"]["x"]["field"] == "total\\.eur"
    assert validate_visualization(spec, columns=["status", "total.eur"]) == []


# --- rendering --------------------------------------------------------------------------------

BAR = suggest_visualization([Column("status", "text"), Column("orders", "integer")])
BAR_ROWS = [["paid", 30], ["shipped", 12], ["new", 7]]


def mark_paths(svg: bytes) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    marks = [g for g in root.iter(f"{SVG}g") if "role-mark" in g.get("class", "")]
    return [child for group in marks for child in group if child.tag == f"{SVG}path"]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_renders_real_svg_with_a_mark_per_row():
    svg = render_chart(BAR, ["status", "orders"], BAR_ROWS, fmt="svg")
    bars = mark_paths(svg)
    assert len(bars) == 3
    assert "Orders: 30; Status: paid" in [bar.get("aria-label") for bar in bars]
    assert b"Showing the first" not in svg


def test_renders_png_of_the_requested_size_times_scale():
    columns = [Column("status", "text"), Column("orders", "integer")]
    png = render_chart(BAR, columns, BAR_ROWS, fmt="png", width=400, height=200, scale=2)
    assert png_size(png) == (800, 400)
    png = render_chart(BAR, columns, BAR_ROWS, fmt="png", width=300, height=150)
    assert png_size(png) == (300, 150)


def test_renders_dates_and_decimals_from_the_database():
    spec = suggest_visualization([Column("day", "date"), Column("revenue", "number")])
    rows = [[dt.date(2024, 1, d), Decimal("10.25") * d] for d in range(1, 6)]
    svg = render_chart(spec, ["day", "revenue"], rows)
    assert mark_paths(svg)  # the line and its points


def test_a_truncated_result_says_it_shows_the_first_rows():
    svg = render_chart(BAR, ["status", "orders"], BAR_ROWS, truncated=True)
    assert b"Showing the first 3 rows" in svg


def test_charts_are_capped_at_ten_thousand_points():
    rows = [[f"s{i}", i] for i in range(MAX_CHART_POINTS + 5)]
    records, note = chart_records(["status", "orders"], rows)
    assert len(records) == MAX_CHART_POINTS
    assert note == "Showing the first 10,000 rows"
    assert chart_records(["status", "orders"], rows[:10]) == (
        [{"status": f"s{i}", "orders": i} for i in range(10)],
        None,
    )


def test_render_refuses_an_invalid_or_empty_spec():
    with pytest.raises(ChartRenderError) as caught:
        render_chart({"data": {"url": "https://example.com/x.csv"}, "mark": "bar"}, [], [])
    assert [p.path for p in caught.value.problems] == ["data.url"]
    with pytest.raises(ChartRenderError) as caught:
        render_chart(chart(mark="bar", encoding=x_y("gone", "nominal")), ["status"], [["x"]])
    assert caught.value.problems[0].path == "encoding.x.field"
    with pytest.raises(ChartRenderError):
        render_chart({}, ["status"], [["x"]])


@pytest.mark.parametrize(
    "options",
    [
        {"fmt": "gif"},
        {"width": 0},
        {"height": 100_000},
        {"scale": 0},
        {"scale": 10},
        {"width": 1.5},
    ],
)
def test_render_rejects_bad_options(options):
    with pytest.raises(ValueError):
        render_chart(BAR, ["status", "orders"], BAR_ROWS, **options)


# --- the page payload -------------------------------------------------------------------------


def test_payload_holds_the_spec_and_the_rows_as_records():
    rows = [["paid", 3, Decimal("12.50"), dt.date(2024, 5, 1), float("nan")]]
    columns = ["status", "orders", "revenue", "day", "ratio"]
    payload = chart_payload(BAR, columns, rows, truncated=True)
    assert payload["datasets"] == {
        "results": [
            {"status": "paid", "orders": 3, "revenue": 12.5, "day": "2024-05-01", "ratio": None}
        ]
    }
    assert payload["errors"] == []
    assert payload["spec"]["title"] == {
        "text": "Orders by status",
        "subtitle": "Showing the first row",
    }
    assert "datasets" not in payload["spec"] and payload["spec"]["data"] == RESULTS
    assert BAR["title"] == "Orders by status"  # the stored spec is untouched
    json.dumps(payload, allow_nan=False)


def test_payload_reports_errors_and_is_empty_for_a_table():
    spec = chart(mark="bar", encoding=x_y("gone", "nominal"))
    payload = chart_payload(spec, ["status", "orders"], [], False)
    assert [e["path"] for e in payload["errors"]] == ["encoding.x.field"]
    assert chart_payload({}, ["status"], [["x"]], False) == {}
