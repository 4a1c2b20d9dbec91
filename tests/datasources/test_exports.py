from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.datasources import exports
from apps.datasources.executor import ResultColumn, execute, stream
from apps.datasources.exports import (
    EXPORT_FORMATS,
    csv_chunks,
    export_filename,
    json_chunks,
    xlsx_chunks,
)

COLUMNS = [
    ResultColumn("id", "integer"),
    ResultColumn("name", "text"),
    ResultColumn("total", "number"),
    ResultColumn("day", "date"),
    ResultColumn("paid", "boolean"),
]
ROWS = [
    (1, "Ada", 12.5, "2024-01-03", True),
    (2, '=HYPERLINK("http://evil")', None, None, False),
    (3, 'Zoë, "quoted"\nnewline', -3.0, "2024-02-29", None),
]


def _csv(columns, batches) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(csv_chunks(columns, batches)).decode())))


def test_csv_has_a_header_and_one_line_per_row() -> None:
    assert _csv(COLUMNS, [ROWS[:1], ROWS[1:]]) == [
        ["id", "name", "total", "day", "paid"],
        ["1", "Ada", "12.5", "2024-01-03", "true"],
        ["2", '\'=HYPERLINK("http://evil")', "", "", "false"],
        ["3", 'Zoë, "quoted"\nnewline', "-3.0", "2024-02-29", ""],
    ]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tpadded", "'\tpadded"),
        ("-5", "-5"),
        ("+1.5e3", "+1.5e3"),
        ("plain", "plain"),
    ],
)
def test_csv_neutralises_text_a_spreadsheet_would_run(value: str, written: str) -> None:
    assert _csv([ResultColumn("v", "text")], [[(value,)]])[1] == [written]


def test_csv_neutralises_formulas_in_any_column_whatever_its_type() -> None:
    # Typed integer and date from earlier rows, an untyped column, a number column that
    # holds text later: text that a spreadsheet would run is neutralised wherever it is.
    columns = [
        ResultColumn("n", "integer"),
        ResultColumn("day", "date"),
        ResultColumn("expr", "unknown"),
        ResultColumn("mixed", "number"),
        ResultColumn("flag", "boolean"),
    ]
    batches = [
        [(1, "2024-01-01", None, 1.5, True), (2, "2024-01-02", "ok", -2, None)],
        [(3, "=1+1", "@SUM(A1)", "-2+3", False), (4, "2024-01-04", "-5", "+1e3", True)],
        [("+cmd", None, "\tpad", '-"quoted, with a comma"', None)],
        [("\rcr", "a\n=b", ["=x"], "@", None)],
    ]
    assert _csv(columns, batches)[1:] == [
        ["1", "2024-01-01", "", "1.5", "true"],
        ["2", "2024-01-02", "ok", "-2", ""],
        ["3", "'=1+1", "'@SUM(A1)", "'-2+3", "false"],
        ["4", "2024-01-04", "-5", "+1e3", "true"],
        ["'+cmd", "", "'\tpad", '\'-"quoted, with a comma"', ""],
        ["'\rcr", "a\n=b", '["=x"]', "'@", ""],
    ]


# Values made of what matters to the check: formula starts, digits, number punctuation,
# and what makes the csv module quote a field.
CSV_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(alphabet='=+-@\t\r\n,". e0123456789aZ', max_size=8),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(CSV_VALUES, CSV_VALUES, CSV_VALUES), max_size=6))
def test_csv_writes_what_checking_every_value_would(rows) -> None:
    columns = [ResultColumn(name, "text") for name in ("a", "b", "c")]
    expected = io.StringIO()
    csv.writer(expected).writerows([[exports._csv_value(v) for v in row] for row in rows])
    written = b"".join(csv_chunks(columns, [rows[:3], rows[3:]])).decode()
    assert written == "a,b,c\r\n" + expected.getvalue()


def test_csv_neutralises_formulas_computed_by_sqlite_expressions(shop_sqlite: Path) -> None:
    # SQLite declares no type for an expression's column, and the first rows looked like
    # numbers: the formula in a later batch must still be caught.
    sql = (
        "SELECT id, CASE WHEN id > 2 THEN '=HYPERLINK(\"x\")' ELSE id END AS v, "
        "'-' || id AS negative, '@' || name AS at FROM customers ORDER BY id"
    )
    with stream("shop", sql, batch_size=2) as (columns, batches):
        parsed = _csv(columns, batches)
    assert parsed[1][1:3] == ["1", "-1"]
    assert parsed[3][1] == '\'=HYPERLINK("x")'
    assert all(row[3].startswith("'@") for row in parsed[1:])
    assert all(row[2] == f"-{row[0]}" for row in parsed[1:])


def test_csv_is_produced_batch_by_batch() -> None:
    def batches():
        yield [(1,)]
        yield [(2,)]
        raise AssertionError("the writer read ahead")

    chunks = csv_chunks([ResultColumn("n", "integer")], batches())
    assert [next(chunks), next(chunks), next(chunks)] == [b"n\r\n", b"1\r\n", b"2\r\n"]


def test_json_is_an_array_of_objects() -> None:
    data = json.loads(b"".join(json_chunks(COLUMNS, [ROWS[:2], [], ROWS[2:]])))
    assert data[0] == {"id": 1, "name": "Ada", "total": 12.5, "day": "2024-01-03", "paid": True}
    assert data[1]["name"] == '=HYPERLINK("http://evil")'  # JSON is data, not a spreadsheet
    assert data[2]["name"] == 'Zoë, "quoted"\nnewline'
    assert len(data) == 3


def test_json_keeps_both_of_two_columns_with_one_name() -> None:
    columns = [ResultColumn("id", "integer"), ResultColumn("id", "integer")]
    assert json.loads(b"".join(json_chunks(columns, [[(1, 2)]]))) == [{"id": 1, "id_2": 2}]


def test_json_of_no_rows_is_an_empty_array() -> None:
    assert json.loads(b"".join(json_chunks(COLUMNS, []))) == []
    assert json.loads(b"".join(json_chunks(COLUMNS, [[]]))) == []


def test_json_writes_non_finite_numbers_as_null() -> None:
    columns = [ResultColumn("x", "number")]
    text = b"".join(json_chunks(columns, [[(float("nan"),), (float("inf"),), (1.5,)]]))
    assert json.loads(text) == [{"x": None}, {"x": None}, {"x": 1.5}]


def _sheet_cells(data: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    rows = re.findall(r"<row .*?</row>", xml, flags=re.DOTALL)
    return [re.findall(r"<c [^>]*?(?:/>|>.*?</c>)", row, flags=re.DOTALL) for row in rows]


def test_xlsx_is_a_workbook_with_typed_cells_and_no_formulas() -> None:
    data = b"".join(xlsx_chunks(COLUMNS, [ROWS[:1], ROWS[1:]]))
    assert data[:2] == b"PK"
    rows = _sheet_cells(data)
    assert len(rows) == 4
    header, first, second, _ = rows
    assert "<t>id</t>" in header[0] and "<t>paid</t>" in header[4]
    assert first[0].endswith("<v>1</v></c>")  # a number
    assert 't="inlineStr"' in first[1] and "<t>Ada</t>" in first[1]
    assert "<v>12.5</v>" in first[2]
    assert "<v>45294</v>" in first[3]  # 2024-01-03 as an Excel date serial
    assert 't="b"' in first[4]
    assert "<f>" not in "".join(second)  # the formula-looking text stays text
    assert "HYPERLINK" in second[1]


def test_xlsx_stops_at_the_sheet_row_limit(monkeypatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 2)
    rows = _sheet_cells(b"".join(xlsx_chunks(COLUMNS, [ROWS])))
    assert len(rows) == 3  # the header and two rows


@pytest.mark.parametrize("export_format", ["csv", "json", "xlsx"])
def test_exports_stream_a_whole_query_result(shop_sqlite: Path, export_format: str) -> None:
    sql = (
        "SELECT o.id, c.name, o.total, o.ordered_at "
        "FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id"
    )
    with stream("shop", sql, batch_size=3) as (columns, batches):
        data = b"".join(EXPORT_FORMATS[export_format].write(columns, batches))
    expected = execute("shop", sql).rows
    if export_format == "csv":
        parsed = list(csv.reader(io.StringIO(data.decode())))
        assert parsed[0] == ["id", "name", "total", "ordered_at"]
        assert parsed[1:] == [[str(value) for value in row] for row in expected]
    elif export_format == "json":
        assert [tuple(item.values()) for item in json.loads(data)] == expected
    else:
        assert len(_sheet_cells(data)) == len(expected) + 1


def test_export_filename_is_a_slug_of_the_title() -> None:
    assert export_filename("Revenue by month / 2024", "csv") == "revenue-by-month-2024.csv"
    assert export_filename("Ventes été", "xlsx") == "ventes-ete.xlsx"
    assert export_filename("???", "json") == "export.json"
    assert EXPORT_FORMATS["xlsx"].content_type.startswith("application/vnd.openxmlformats")
