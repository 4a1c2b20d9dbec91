"""A dashboard of 12 tiles, opened over HTTP, against its slowest tile alone.

    .venv/bin/python bench/dashboard.py [--postgres URL] [--repeats 5] [--tiles 12]

The app runs under uvicorn on loopback (ASGI, as `make run` serves). A browser opens a
dashboard in two steps: the page (a fixed number of queries whatever the number of tiles),
then every tile asks for itself at once (hx-trigger="load") and runs its artifact. Here the
page is fetched, then the 12 tile URLs it lists are fetched concurrently, each on its own
kept-alive connection as a browser's; the dashboard's time runs from the page request to the
last tile's answer. Each tile is also fetched alone, one after another; the slowest of them
is the floor for the whole dashboard if its tiles really run side by side. Best of
--repeats for each.

The tiles' artifacts read a PostgreSQL data source (a throwaway database of 1,000 rows) and
each waits there --wait seconds, 10 ms more for each next tile (pg_sleep, allowed on this
bench's source only): the time a warehouse takes to answer, which a dashboard spends
waiting, not computing. What the app itself spends on a tile (about 25-40 ms of CPU on an
idle machine: the request, the sharing rule, the executor's connection, recording the run,
the template) cannot run 12 at a time on this machine's two cores; the shorter the wait,
the more that shows (see bench/README.md for the ratio at several waits).

The app's own database (sessions, artifacts, the runs each tile records) is SQLite on file
(`--app-db sqlite`, the default) or a throwaway PostgreSQL database (`--app-db postgres`).

Target: the dashboard at most 1.3x its slowest tile. Prints the ratio; exits non-zero above.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import bench_source, empty_postgres_database, postgres_database, postgres_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_execute import free_port, start_server

TARGET = 1.3


def tile_sql(index: int, wait: float) -> str:
    wait += 0.010 * index  # tiles differ: the slowest of 12 waits 0.11 s more than the first
    return (
        f"WITH waited AS (SELECT pg_sleep({wait:.3f})) "
        "SELECT customer, COUNT(*) AS events, SUM(amount) AS amount "
        "FROM events, waited GROUP BY customer ORDER BY customer LIMIT 10"
    )


def prepare(stack: contextlib.ExitStack, server: str, app_db: str, tiles: int, wait: float):
    """The source, the app's database, a user, `tiles` artifacts and their dashboard.

    Returns the dashboard's id and the user's session cookie.
    """
    source = stack.enter_context(postgres_database(server, 1000))
    os.environ["DATA_SOURCES"] = bench_source(source) + "&allow_functions=pg_sleep"
    os.environ["DEFAULT_DATA_SOURCE"] = "bench"
    if app_db == "sqlite":
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'app.sqlite3'}"
    else:
        os.environ["DATABASE_URL"] = stack.enter_context(empty_postgres_database(server))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    from apps.llm_artifact.models import Artifact

    stack.callback(connections.close_all)
    # Pages link hashed static files: the manifest must list them, as `make run` ensures
    # (collectstatic copies only what changed).
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    artifacts = [
        Artifact.objects.create(
            owner=user, title=f"Tile {index}", data_source="bench", sql_query=tile_sql(index, wait)
        )
        for index in range(tiles)
    ]
    for artifact in artifacts:
        artifact.full_clean()  # the guard takes pg_sleep on this source, and only here
    dashboard = Artifact(
        owner=user,
        artifact_type="dashboard",
        title="Bench dashboard",
        data_source="bench",
        document={
            "tiles": [
                {"id": f"t{n}", "kind": "artifact", "artifact": str(a.uid), "width": 4}
                for n, a in enumerate(artifacts)
            ],
            "filters": [],
        },
    )
    dashboard.full_clean()
    dashboard.save()
    client = Client()
    client.force_login(user)
    return dashboard.pk, client.cookies["sessionid"].value


class Browser:
    """Kept-alive connections, one per tile at most, as a browser keeps them."""

    def __init__(self, port: int, cookie: str, connections: int) -> None:
        self.port = port
        self.headers = {"Cookie": f"sessionid={cookie}"}
        self.pool = [self._connect() for _ in range(connections)]
        self.executor = ThreadPoolExecutor(max_workers=connections)

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, url: str, *, htmx: bool = False, connection: int = 0) -> str:
        headers = {**self.headers, **({"HX-Request": "true"} if htmx else {})}
        conn = self.pool[connection]
        conn.request("GET", url, headers=headers)
        response = conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise SystemExit(f"GET {url} answered {response.status}: {body[:300]}")
        return body

    def tile(self, url: str, connection: int) -> str:
        body = self.get(url, htmx=True, connection=connection)
        if 'data-tile-state="ok"' not in body:
            raise SystemExit(f"The tile {url} did not run: {body[:500]}")
        return body

    def dashboard(self, page_url: str) -> int:
        """The page, then all its tiles at once; returns how many tiles."""
        page = self.get(page_url)
        urls = [url.replace("&amp;", "&") for url in re.findall(r'hx-get="([^"]+)"', page)]
        tile_urls = [url for url in urls if "/tiles/" in url]
        futures = [
            self.executor.submit(self.tile, url, index) for index, url in enumerate(tile_urls)
        ]
        for future in futures:
            future.result()
        return len(tile_urls)


def best(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def run_engine(server: str, app_db: str, tiles: int, repeats: int, wait: float) -> bool:
    with contextlib.ExitStack() as stack:
        dashboard_id, cookie = prepare(stack, server, app_db, tiles, wait)
        port = free_port()
        # Kept-alive connections stay open between the rounds, as a browser's would.
        process = start_server(port, "config.asgi:application", "--timeout-keep-alive", "300")
        stack.callback(process.wait, timeout=10)
        stack.callback(process.terminate)
        browser = Browser(port, cookie, tiles)
        page_url = f"/artifacts/{dashboard_id}/"
        assert browser.dashboard(page_url) == tiles  # warm: the first request, the guard
        tile_urls = [f"/artifacts/{dashboard_id}/tiles/t{n}/" for n in range(tiles)]
        alone = [best(repeats, lambda url=url: browser.tile(url, 0)) for url in tile_urls]
        page = best(repeats, lambda: browser.get(page_url))
        whole = best(repeats, lambda: browser.dashboard(page_url))
        browser.executor.shutdown()
    slowest = max(alone)
    ratio = whole / slowest
    verdict = "ok" if ratio <= TARGET else f"ABOVE the target of {TARGET:g}x"
    waits = f"{wait:.2f}-{wait + 0.01 * (tiles - 1):.2f} s"
    print(f"App database {app_db}; {tiles} tiles on PostgreSQL waiting {waits}; best of {repeats}")
    print(f"  page alone          {page * 1000:8.1f} ms")
    print(f"  tiles alone         {min(alone) * 1000:8.1f} to {slowest * 1000:.1f} ms")
    print(f"  sum of the tiles    {sum(alone) * 1000:8.1f} ms   (one after another)")
    print(f"  dashboard           {whole * 1000:8.1f} ms   (page, then every tile at once)")
    print(f"  ratio               {ratio:8.2f}x the slowest tile   {verdict}")
    return ratio <= TARGET


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=postgres_url(), help="a superuser DSN")
    parser.add_argument("--app-db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--tiles", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--wait",
        type=float,
        default=0.5,
        help="seconds the first tile waits in the database (each next one 10 ms more)",
    )
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.postgres:
        print("The tiles read PostgreSQL: give --postgres (or set BENCH_POSTGRES_URL).")
        return 2
    if args.engine:
        met = run_engine(args.postgres, args.engine, args.tiles, args.repeats, args.wait)
        return 0 if met else 1
    engines = ["sqlite", "postgres"] if args.app_db == "both" else [args.app_db]
    status = 0
    for engine in engines:
        # Each in its own process: Django reads DATABASES once.
        command = [sys.executable, __file__, *sys.argv[1:], "--engine", engine]
        status = subprocess.run(command, check=False).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
