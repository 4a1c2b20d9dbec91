"""The floor for bench/api_execute.py: a bare ASGI app that answers any request with the
rows of one query, fetched with sqlite3 and written as JSON with the standard library.

    uvicorn bare_asgi:app --app-dir bench   (BENCH_SOURCE=path/to/source.sqlite3)

No framework, no authentication, no checks: what any endpoint returning these rows over
HTTP must at least do, under the same server as the app.
"""

from __future__ import annotations

import json
import os
import sqlite3

SQL = "SELECT id, customer, amount, day, flag, code FROM events ORDER BY id"
SOURCE = os.environ.get("BENCH_SOURCE", "")


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    connection = sqlite3.connect(f"file:{SOURCE}?mode=ro", uri=True)
    cursor = connection.execute(SQL)
    rows = cursor.fetchall()
    columns = [item[0] for item in cursor.description]
    connection.close()
    body = json.dumps({"columns": columns, "rows": rows, "row_count": len(rows)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
