"""The floor for bench/api_execute.py: a bare ASGI app that answers any request with the
rows of one query, fetched with the bare driver and written as JSON with the standard library.

    uvicorn bare_asgi:app --app-dir bench   (BENCH_SOURCE=path/to/source.sqlite3,
                                             or BENCH_SOURCE=postgresql://...)

No framework, no authentication, no checks: what any endpoint returning these rows over
HTTP must at least do, under the same server as the app. Like the executor, it opens a
connection to the source for each request (sqlite3 read-only, or psycopg); PostgreSQL's
numeric and date values are written as JSON numbers and ISO text, as the endpoint writes
them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sqlite3

SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"
SOURCE = os.environ.get("BENCH_SOURCE", "")


def _plain(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def fetch() -> tuple[list[str], list]:
    if SOURCE.startswith("postgresql"):
        import psycopg

        with psycopg.connect(SOURCE) as connection:
            cursor = connection.execute(SQL)
            rows = cursor.fetchall()
            return [column.name for column in cursor.description], rows
    connection = sqlite3.connect(f"file:{SOURCE}?mode=ro", uri=True)
    try:
        cursor = connection.execute(SQL)
        rows = cursor.fetchall()
        return [item[0] for item in cursor.description], rows
    finally:
        connection.close()


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    columns, rows = fetch()
    body = json.dumps(
        {"columns": columns, "rows": rows, "row_count": len(rows)}, default=_plain
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
