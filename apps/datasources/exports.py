"""Streaming exports of query results: CSV, JSON (an array of objects) and XLSX.

Each writer takes the result's columns and an iterator of row batches (what
`executor.stream()` yields) and produces bytes chunk by chunk, holding one batch at a time:
memory stays flat however many rows there are. XLSX cannot be written as a stream, so
XlsxWriter's constant-memory mode writes it to a temporary file row by row, and the file is
then read back in chunks and deleted.

Values that a spreadsheet would execute are neutralised: CSV text that Excel would read as
a formula (starting with =, +, -, @, tab or carriage return, and not a plain number) gets a
leading apostrophe, as OWASP recommends; XLSX cells are always written as text, never as
formulas or links.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
from django.utils.text import slugify

from apps.datasources.executor import ColumnType, ResultColumn, json_friendly

FILE_CHUNK_BYTES = 64 * 1024
# Excel's sheet holds 1,048,576 rows; one of them is the header.
XLSX_MAX_ROWS = 1_048_575


@dataclass(frozen=True)
class ExportFormat:
    name: str
    content_type: str
    extension: str
    write: Callable[[list[ResultColumn], Iterable[list[tuple]]], Iterator[bytes]]


def export_filename(title: str, export_format: str) -> str:
    """A safe download name from a title: "Revenue by month" -> "revenue-by-month.csv"."""
    stem = slugify(title)[:80].strip("-") or "export"
    return f"{stem}.{EXPORT_FORMATS[export_format].extension}"


# --- CSV -----------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
# Text a spreadsheet would run: a formula start that is not a plain number ("-5" is fine).
FORMULA_RE = re.compile(rf"(?!{PLAIN_NUMBER}\Z)[=+\-@\t\r]")
# The same rule read off written CSV, where a field starts after a comma or a line break:
# a quoted field starting with a formula character, or an unquoted one (which runs to the
# next comma or "\r\n", as unquoted fields hold neither) that is not a plain number. A line
# break inside a quoted field can match too: that only costs the slow path, never a miss.
WRITTEN_FORMULA_RE = re.compile(rf'[,\n](?:"[=+\-@\t\r]|(?=[=+\-@\t])(?!{PLAIN_NUMBER}[,\r]))')


def _csv_value(value: Any) -> Any:
    if isinstance(value, str):
        return "'" + value if FORMULA_RE.match(value) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=json_friendly)
    return value


def csv_chunks(columns: list[ResultColumn], batches: Iterable[list[tuple]]) -> Iterator[bytes]:
    """RFC 4180 CSV in UTF-8 with a header row; NULL is an empty field.

    Checking every value in Python for a formula would cost most of the export, so each
    batch is written as it came and the written text is searched for a field that starts
    like a formula (one regular expression over the batch, at C speed). Only a batch where
    one does is written again value by value through _csv_value. The search reads the
    values themselves, whatever the column's type: SQLite puts any type in any column, and
    an expression's column has no declared type.

    Booleans and lists or objects need _csv_value too ("true", JSON). The executor gives
    those only in columns typed boolean or unknown (SQLite has neither; PostgreSQL's types
    are fixed per column), so those columns, and only those, are converted value by value.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_csv_value(column.name) for column in columns])
    yield buffer.getvalue().encode()
    converted = [
        index
        for index, column in enumerate(columns)
        if column.type in (ColumnType.BOOLEAN, ColumnType.UNKNOWN)
    ]
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        if converted:
            batch = _convert_columns(batch, converted)
        writer.writerows(batch)
        text = buffer.getvalue()
        if _may_hold_formula(text):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(map(_csv_row, batch))
            text = buffer.getvalue()
        yield text.encode()


def _may_hold_formula(text: str) -> bool:
    # First a look for the characters themselves (memchr speed, and "-" only where a field
    # starts, as dates are full of them), then the exact search if one is there.
    if not (
        "=" in text
        or "+" in text
        or "@" in text
        or "\t" in text
        or '"' in text
        or ",-" in text
        or "\n-" in text
        or text.startswith("-")
    ):
        return False
    # "\n": the batch's first field starts a line too.
    return WRITTEN_FORMULA_RE.search("\n" + text) is not None


def _convert_columns(batch: list[tuple], indexes: list[int]) -> list[list]:
    rows = []
    for row in batch:
        values = list(row)
        for index in indexes:
            values[index] = _csv_value(values[index])
        rows.append(values)
    return rows


def _csv_row(row: tuple) -> list:
    return [_csv_value(value) for value in row]


# --- JSON ----------------------------------------------------------------------------


def _unique_keys(columns: list[ResultColumn]) -> list[str]:
    # Two columns named "id" (a join) must not overwrite each other in an object.
    keys: list[str] = []
    seen: set[str] = set()
    for column in columns:
        key, suffix = column.name, 2
        while key in seen:
            key, suffix = f"{column.name}_{suffix}", suffix + 1
        seen.add(key)
        keys.append(key)
    return keys


def _finite(value: Any) -> Any:
    # JSON has no NaN or Infinity; they become null like SQL's unknown.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_object(keys: list[str], row: tuple) -> str:
    try:
        return json.dumps(
            dict(zip(keys, row, strict=True)),
            ensure_ascii=False,
            allow_nan=False,
            default=json_friendly,
        )
    except ValueError:
        return json.dumps(
            dict(zip(keys, map(_finite, row), strict=True)),
            ensure_ascii=False,
            default=json_friendly,
        )


def json_chunks(columns: list[ResultColumn], batches: Iterable[list[tuple]]) -> Iterator[bytes]:
    """A JSON array with one object per row, keyed by column name."""
    keys = _unique_keys(columns)
    separator = "[\n"
    for batch in batches:
        if not batch:
            continue
        text = ",\n".join(_json_object(keys, row) for row in batch)
        yield (separator + text).encode()
        separator = ",\n"
    yield b"[]\n" if separator == "[\n" else b"\n]\n"


# --- XLSX ----------------------------------------------------------------------------


def _parse_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def xlsx_chunks(
    columns: list[ResultColumn], batches: Iterable[list[tuple]], *, sheet_name: str = "Result"
) -> Iterator[bytes]:
    """An Excel workbook with one sheet: a bold header row, then the rows.

    Numbers and booleans are typed cells, date and datetime columns real Excel dates, and
    everything else text. Rows beyond Excel's limit of 1,048,575 are left out.
    """
    with tempfile.TemporaryDirectory(prefix="export-") as directory:
        path = Path(directory) / "export.xlsx"
        workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": directory,
                "remove_timezone": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        sheet = workbook.add_worksheet(sheet_name[:31])
        header = workbook.add_format({"bold": True})
        date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
        datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        sheet.freeze_panes(1, 0)
        for index, column in enumerate(columns):
            sheet.write_string(0, index, column.name, header)
        dated = {
            index: date_format if column.type == ColumnType.DATE else datetime_format
            for index, column in enumerate(columns)
            if column.type in (ColumnType.DATE, ColumnType.DATETIME)
        }
        row_number = 0
        for batch in batches:
            for row in batch:
                row_number += 1
                if row_number > XLSX_MAX_ROWS:
                    break
                _write_xlsx_row(sheet, row_number, row, dated)
            if row_number > XLSX_MAX_ROWS:
                break
        workbook.close()
        with path.open("rb") as stream:
            while chunk := stream.read(FILE_CHUNK_BYTES):
                yield chunk


def _write_xlsx_row(sheet: Any, row_number: int, row: tuple, dated: dict[int, Any]) -> None:
    for index, value in enumerate(row):
        if value is None:
            continue
        if index in dated:
            moment = _parse_datetime(value)
            if moment is not None:
                sheet.write_datetime(row_number, index, moment, dated[index])
                continue
        if isinstance(value, bool):
            sheet.write_boolean(row_number, index, value)
        elif isinstance(value, (int, float)) and math.isfinite(value):
            sheet.write_number(row_number, index, value)
        else:
            value = json_friendly(value)
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            sheet.write_string(row_number, index, text)


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", "csv", csv_chunks),
    "json": ExportFormat("json", "application/json", "json", json_chunks),
    "xlsx": ExportFormat(
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
        xlsx_chunks,
    ),
}
