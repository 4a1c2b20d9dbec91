"""Pages and endpoints for a heavy user against a light one, side by side, with targets.

    .venv/bin/python bench/scale.py [--scale 1] [--only artifact_list,chat]
                                    [--repeats 7] [--postgres URL] [--reuse PATH]
                                    [--profile CASE]

Builds, in a throwaway database, a heavy user (at --scale 1: 100,000 artifacts with a run
each, 20,000 chats, 80,000 messages, among them a chat of 500 messages and one of 20) and a
light user (1,000 artifacts, 200 chats, 800 messages, whatever --scale says), with bulk
inserts. Then it requests
each page and endpoint as both users through Django's test client (in process: the whole
middleware, template and DRF stack, no network), the two sides taking turns, and prints the
median and p95 of each side, their ratio, the response sizes and the query counts.

The database is SQLite in a temporary directory; with --postgres (a superuser DSN, or
BENCH_POSTGRES_URL) the same run follows on a throwaway PostgreSQL database, created and
dropped here. --reuse PATH keeps the SQLite database in PATH and reuses it on later runs
(migrations still apply, so a new index is measured without rebuilding).

Exits non-zero when a target of TARGETS is missed, when a page's query count grows with the
data, or when a request does not answer 200. --profile CASE prints a cProfile of the heavy
side of one case (e.g. --profile artifact_list.first).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import build_sqlite, setup_django

# What the heavy side may cost against the light side (issue 10), and a page-size cap.
# `group` is what --only selects; a case is named group.name.
#            case                           heavy / light  max heavy size (bytes)
TARGETS: dict[str, tuple[float, int | None]] = {
    "artifact_list.first": (1.5, 150_000),
    "artifact_list.filtered": (1.5, None),
    "artifact_list.searched": (3.0, None),
    "artifact_list.page_1000": (3.0, None),
    "api_list.ordering": (1.5, None),
    "api_list.search_ordering": (3.0, None),
    "api_list.deep_page": (3.0, None),
    "chat_list.first": (1.5, None),
    "chat.500_vs_20": (1.5, None),
    # Not in the list: one object's page has no reason to depend on the others.
    "artifact_page.detail": (1.5, None),
}

HEAVY = {"artifacts": 100_000, "chats": 20_000, "messages": 80_000}
LIGHT = {"artifacts": 1_000, "chats": 200, "messages": 800}
LONG_CHAT, SHORT_CHAT = 500, 20
PAGE_SIZE = 25
SEARCH = "revenue"  # in about one title in ten
SOURCE_ROWS = 200

TOPICS = [
    "revenue",
    "orders",
    "sellers",
    "refunds",
    "customers",
    "shipping",
    "reviews",
    "inventory",
    "returns",
    "payments",
]
STATUSES = ["active"] * 7 + ["draft", "deprecated", "failed"]
REPLY = """Here is what the data says about **{topic}** in {month}:

- The top three {topic} account for {share}% of the total.
- Week {week} was the busiest, about {lift}% above the average.
- Nothing stands out among the smaller ones.

```sql
SELECT id, customer, amount FROM events WHERE amount > {amount} ORDER BY amount DESC
```

I saved the query as an artifact so you can run it again with other months."""


@dataclass
class Request:
    user: str  # a key of the users dict
    path: str


@dataclass
class Case:
    name: str  # group.name
    heavy_label: str
    light_label: str
    heavy: Request
    light: Request


@dataclass
class Measure:
    times: list[float]
    size: int
    queries: int
    status: int


# ---------------------------------------------------------------------------------------
# Building the data


@contextmanager
def explicit_timestamps(*models) -> Iterator[None]:
    """Let bulk_create keep the created_at/updated_at we give instead of stamping now."""
    saved = []
    for model in models:
        for field in model._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                saved.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


BATCH = 5000
START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365).total_seconds()


def build_user(
    username: str, counts: dict[str, int], agent, rng: random.Random, *, long_chats: bool
) -> dict:
    """One user with `counts` artifacts (a run each), chats and messages; returns ids to visit."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, password="bench-password-123")
    chats = build_chats(user, max(2, counts["chats"]), agent, rng)
    artifacts = build_artifacts(user, counts["artifacts"], chats, agent, rng)
    build_runs(user, artifacts, rng)
    build_messages(chats, artifacts, counts["messages"], rng, long_chats=long_chats)
    return {
        "artifact": artifacts[0].pk,
        "artifacts": len(artifacts),
        "long_chat": chats[0].pk,
        "short_chat": chats[1].pk,
    }


def build_chats(user, n_chats: int, agent, rng: random.Random) -> list:
    from apps.llm_chat.models import Chat

    chats = []
    for i in range(n_chats):
        created = START + timedelta(seconds=YEAR * i / n_chats)
        topic = TOPICS[i % len(TOPICS)]
        chats.append(
            Chat(
                title=f"{topic.capitalize()} questions #{i}",
                agent=agent,
                owner=user,
                created_at=created,
                updated_at=created + timedelta(hours=rng.randint(0, 72)),
            )
        )
    return Chat.objects.bulk_create(chats, batch_size=BATCH)


def build_artifacts(user, n_artifacts: int, chats: list, agent, rng: random.Random) -> list:
    from apps.llm_artifact.models import Artifact

    artifacts = []
    for i in range(n_artifacts):
        created = START + timedelta(seconds=YEAR * i / n_artifacts)
        topic = TOPICS[rng.randrange(len(TOPICS))]
        runs = rng.randint(0, 50)
        sql = f"SELECT id, customer, amount, day FROM events WHERE id <= {rng.randint(10, 200)}"
        artifacts.append(
            Artifact(
                title=f"{topic.capitalize()} by month, cut {i}",
                description=f"Monthly {topic} for the marketplace, grouped by seller.",
                comment="Checked against the finance report." if i % 5 == 0 else "",
                sql_query=sql,
                data_source="bench",
                status=STATUSES[i % len(STATUSES)],
                chat=chats[i % len(chats)],
                agent=agent,
                owner=user,
                execution_count=runs,
                last_executed_at=created + timedelta(days=1) if runs else None,
                visualization_config=(
                    {
                        "mark": "bar",
                        "encoding": {
                            "x": {"field": "customer", "type": "nominal"},
                            "y": {"field": "amount", "type": "quantitative"},
                        },
                    }
                    if i % 3 == 0
                    else {}
                ),
                created_at=created,
                updated_at=created + timedelta(hours=rng.randint(0, 24 * 30)),
            )
        )
    return Artifact.objects.bulk_create(artifacts, batch_size=BATCH)


def build_runs(user, artifacts: list, rng: random.Random) -> None:
    from apps.llm_artifact.models import ArtifactRun, sql_digest

    columns = [
        {"name": "id", "type": "integer"},
        {"name": "customer", "type": "text"},
        {"name": "amount", "type": "real"},
        {"name": "day", "type": "text"},
    ]
    runs = []
    for artifact in artifacts:
        ok = artifact.status != "failed"
        runs.append(
            ArtifactRun(
                artifact=artifact,
                user=user,
                started_at=artifact.updated_at,
                duration_ms=rng.uniform(1, 40),
                row_count=rng.randint(1, 200) if ok else 0,
                outcome="ok" if ok else "error",
                error="" if ok else "no such column: amout",
                data_source="bench",
                columns=columns if ok else None,
                sql_digest=sql_digest(artifact.sql_query),
            )
        )
    # The visited artifact has a history worth a page.
    for k in range(30):
        runs.append(
            ArtifactRun(
                artifact=artifacts[0],
                user=user,
                started_at=artifacts[0].updated_at - timedelta(hours=k + 1),
                duration_ms=5,
                row_count=100,
                outcome="ok",
                data_source="bench",
                columns=columns,
                sql_digest=sql_digest(artifacts[0].sql_query),
            )
        )
    ArtifactRun.objects.bulk_create(runs, batch_size=BATCH)


def build_messages(
    chats: list, artifacts: list, messages: int, rng: random.Random, *, long_chats: bool
) -> None:
    from apps.llm_chat.models import Message, MessageArtifact

    # Messages, in question/reply pairs: the heavy user's first chat gets LONG_CHAT and its
    # second SHORT_CHAT; the other chats share what is left.
    by_chat: dict[int, list] = {}
    for artifact in artifacts:
        by_chat.setdefault(artifact.chat_id, []).append(artifact)
    special = [LONG_CHAT, SHORT_CHAT] if long_chats else []
    pairs = max(0, messages - sum(special)) // 2
    rest = len(chats) - len(special)
    sizes = special + [2 * (pairs // rest + (1 if i < pairs % rest else 0)) for i in range(rest)]
    questions, replies = [], []
    for chat, size in zip(chats, sizes, strict=True):
        when = chat.created_at
        for turn in range(size // 2):
            topic = TOPICS[(chat.pk + turn) % len(TOPICS)]
            when += timedelta(minutes=2)
            questions.append(
                Message(
                    chat=chat,
                    role="user",
                    content=f"Which {topic} grew most in month {turn % 12 + 1}?",
                    created_at=when,
                )
            )
            linked = by_chat.get(chat.pk, [])
            replies.append(
                (
                    chat,
                    when + timedelta(seconds=20),
                    REPLY.format(
                        topic=topic,
                        month=f"month {turn % 12 + 1}",
                        share=rng.randint(20, 70),
                        week=rng.randint(1, 52),
                        lift=rng.randint(5, 80),
                        amount=rng.randint(10, 900),
                    ),
                    linked[turn] if turn < len(linked) else None,
                )
            )
    questions = Message.objects.bulk_create(questions, batch_size=BATCH)
    answers = [
        Message(
            chat=chat,
            role="assistant",
            content=content,
            created_at=when,
            reply_to=question,
            artifact=artifact,
            artifact_action="created" if artifact else None,
            input_tokens=rng.randint(500, 3000),
            output_tokens=rng.randint(50, 400),
        )
        for question, (chat, when, content, artifact) in zip(questions, replies, strict=True)
    ]
    answers = Message.objects.bulk_create(answers, batch_size=BATCH)
    MessageArtifact.objects.bulk_create(
        [
            MessageArtifact(
                message=answer,
                artifact=answer.artifact,
                action="created",
                created_at=answer.created_at,
            )
            for answer in answers
            if answer.artifact is not None
        ],
        batch_size=BATCH,
    )


def build(scale: float) -> dict:
    from apps.llm_agent.models import Agent
    from apps.llm_artifact.models import Artifact, ArtifactRun
    from apps.llm_chat.models import Chat, Message, MessageArtifact

    rng = random.Random(10)
    agent = Agent.objects.create(
        name="Bench analyst", provider="openai_compatible", model_name="bench", data_source="bench"
    )
    # Only the heavy user scales: the light one is the fixed yardstick.
    scaled = {
        "heavy": {key: max(1, round(value * scale)) for key, value in HEAVY.items()},
        "light": LIGHT,
    }
    with explicit_timestamps(Artifact, ArtifactRun, Chat, Message, MessageArtifact):
        return {
            side: build_user(f"bench-{side}", counts, agent, rng, long_chats=side == "heavy")
            | {"counts": counts}
            for side, counts in scaled.items()
        }


def existing() -> dict | None:
    """What build() returned, read back from a reused database (None if it is empty)."""
    from django.contrib.auth import get_user_model

    from apps.llm_chat.models import Chat, Message

    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="bench-")}
    if set(users) != {"bench-heavy", "bench-light"}:
        return None
    built = {}
    for side in ("heavy", "light"):
        user = users[f"bench-{side}"]
        chats = list(Chat.objects.filter(owner=user).order_by("created_at", "id")[:2])
        built[side] = {
            "artifact": user.artifacts.order_by("created_at", "id").values_list("pk", flat=True)[0],
            "artifacts": user.artifacts.count(),
            "long_chat": chats[0].pk,
            "short_chat": chats[1].pk,
            "counts": {
                "artifacts": user.artifacts.count(),
                "chats": user.chats.count(),
                "messages": Message.objects.filter(chat__owner=user).count(),
            },
        }
    return built


# ---------------------------------------------------------------------------------------
# The cases


def cases(built: dict) -> list[Case]:
    heavy, light = built["heavy"], built["light"]

    def deep(side: dict) -> int:
        return max(1, min(1000, -(-side["artifacts"] // PAGE_SIZE)))

    def pair(name: str, heavy_path: str, light_path: str | None = None) -> Case:
        return Case(
            name,
            "heavy",
            "light",
            Request("heavy", heavy_path),
            Request("light", light_path or heavy_path),
        )

    return [
        pair("artifact_list.first", "/artifacts/"),
        pair("artifact_list.filtered", "/artifacts/?status=failed"),
        pair("artifact_list.searched", f"/artifacts/?q={SEARCH}"),
        pair(
            "artifact_list.page_1000",
            f"/artifacts/?page={deep(heavy)}",
            f"/artifacts/?page={deep(light)}",
        ),
        pair("api_list.ordering", "/api/artifacts/?ordering=-execution_count"),
        pair("api_list.search_ordering", f"/api/artifacts/?search={SEARCH}&ordering=-created_at"),
        pair(
            "api_list.deep_page",
            f"/api/artifacts/?page={deep(heavy)}",
            f"/api/artifacts/?page={deep(light)}",
        ),
        pair("chat_list.first", "/chats/"),
        Case(
            "chat.500_vs_20",
            f"{LONG_CHAT} msgs",
            f"{SHORT_CHAT} msgs",
            Request("heavy", f"/chats/{heavy['long_chat']}/"),
            Request("heavy", f"/chats/{heavy['short_chat']}/"),
        ),
        pair(
            "artifact_page.detail",
            f"/artifacts/{heavy['artifact']}/",
            f"/artifacts/{light['artifact']}/",
        ),
    ]


# ---------------------------------------------------------------------------------------
# Measuring


def measure(clients: dict, case: Case, repeats: int) -> tuple[Measure, Measure]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def once(request: Request):
        return clients[request.user].get(request.path)

    results = []
    for request in (case.heavy, case.light):
        once(request)  # warm: template loading, first-query costs
        with CaptureQueriesContext(connection) as queries:
            response = once(request)
        body = b"".join(response) if response.streaming else response.content
        results.append(Measure([], len(body), len(queries), response.status_code))
    for _ in range(repeats):
        for request, result in zip((case.heavy, case.light), results, strict=True):
            started = time.perf_counter()
            once(request)
            result.times.append(time.perf_counter() - started)
    return results[0], results[1]


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def kb(size: int) -> str:
    return f"{size / 1000:,.1f} KB"


def report(case: Case, heavy: Measure, light: Measure) -> list[str]:
    """Print one row; return what it misses."""
    limit, max_size = TARGETS[case.name]
    misses = []
    for label, result in ((case.heavy_label, heavy), (case.light_label, light)):
        if result.status != 200:
            misses.append(f"{case.name}: {label} answered {result.status}")
    ratio = statistics.median(heavy.times) / statistics.median(light.times)
    if ratio > limit:
        misses.append(f"{case.name}: {ratio:.2f}x, target at most {limit}x")
    if max_size is not None and heavy.size > max_size:
        misses.append(f"{case.name}: {kb(heavy.size)} of HTML, target under {kb(max_size)}")
    if heavy.queries > light.queries:
        misses.append(f"{case.name}: {heavy.queries} queries against {light.queries}")
    print(
        f"{case.name:<26}"
        f"{statistics.median(heavy.times) * 1000:>9.1f} {p95(heavy.times) * 1000:>8.1f}"
        f"{statistics.median(light.times) * 1000:>10.1f} {p95(light.times) * 1000:>8.1f}"
        f"{ratio:>8.2f}x {'<=' + str(limit) + 'x':>7}"
        f"{kb(heavy.size):>12}{kb(light.size):>11}"
        f"{heavy.queries:>5}/{light.queries:<4}"
        f"  {'ok' if not any(m.startswith(case.name + ':') for m in misses) else 'MISSED'}"
    )
    return misses


def profile(clients: dict, case: Case) -> None:
    request = case.heavy
    clients[request.user].get(request.path)
    profiler = cProfile.Profile()
    profiler.enable()
    clients[request.user].get(request.path)
    profiler.disable()
    print(f"\ncProfile of {case.name}, heavy side ({request.path}), by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    print("by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


# ---------------------------------------------------------------------------------------
# One engine per process: settings are read once.


@contextmanager
def database(engine: str, args, workdir: Path) -> Iterator[str]:
    """Yields the app database's URL: a temporary (or --reuse) SQLite file, or a throwaway
    PostgreSQL database dropped afterwards."""
    if engine == "sqlite":
        path = Path(args.reuse).resolve() if args.reuse else workdir / "app.sqlite3"
        yield f"sqlite:///{path}"
        return
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"bench_scale_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(args.postgres)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_engine(engine: str, args) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp,
        database(engine, args, Path(tmp)) as url,
    ):
        source = build_sqlite(Path(tmp) / "source.sqlite3", SOURCE_ROWS)
        os.environ["DATABASE_URL"] = url
        os.environ["DATA_SOURCES"] = f"bench=sqlite:///{source}"
        os.environ["DEFAULT_DATA_SOURCE"] = "bench"
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        setup_django()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.staticfiles.storage import staticfiles_storage
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        # Pages link hashed static files: the manifest must exist, as `make run` ensures.
        manifest = getattr(staticfiles_storage, "manifest_name", None)
        if manifest and not (Path(settings.STATIC_ROOT) / manifest).exists():
            call_command("collectstatic", interactive=False, verbosity=0)
        call_command("migrate", verbosity=0)

        started = time.perf_counter()
        built = existing() if args.reuse else None
        if built is None:
            built = build(args.scale)
            if connection.vendor == "postgresql":
                # What autovacuum would have done by the time a user has this much.
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            verb = "built"
        else:
            verb = "reused"
        heavy, light = built["heavy"]["counts"], built["light"]["counts"]
        print(
            f"{connection.vendor}: {verb} in {time.perf_counter() - started:.1f} s: "
            f"heavy user {heavy['artifacts']:,} artifacts, {heavy['chats']:,} chats, "
            f"{heavy['messages']:,} messages; light user {light['artifacts']:,} artifacts, "
            f"{light['chats']:,} chats, {light['messages']:,} messages"
        )

        clients = {}
        for side in ("heavy", "light"):
            clients[side] = Client()
            clients[side].force_login(get_user_model().objects.get(username=f"bench-{side}"))
        chosen = [
            case
            for case in cases(built)
            if not args.only or case.name in args.only or case.name.split(".")[0] in args.only
        ]
        if args.profile:
            for case in chosen:
                if case.name == args.profile:
                    profile(clients, case)
            return 0

        print(
            f"median and p95 of {args.repeats} requests each, ms; sizes of the response body; "
            "queries heavy/light"
        )
        print(
            f"{'case':<26}{'heavy':>9} {'p95':>8}{'light':>10} {'p95':>8}{'ratio':>9} "
            f"{'target':>7}{'heavy size':>12}{'light size':>11}{'queries':>10}"
        )
        misses = []
        for case in chosen:
            heavy_m, light_m = measure(clients, case, args.repeats)
            misses += report(case, heavy_m, light_m)
        if misses:
            print(f"{connection.vendor}: {len(misses)} target(s) missed:")
            for miss in misses:
                print(f"  {miss}")
            return 1
        print(f"{connection.vendor}: every target met")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies the heavy user's counts"
    )
    parser.add_argument(
        "--only",
        type=lambda value: {item.strip() for item in value.split(",") if item.strip()},
        default=set(),
        help=f"groups or cases, comma-separated: {', '.join(TARGETS)}",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", ""),
        help="a PostgreSQL server (superuser DSN): also run there, in a throwaway database",
    )
    parser.add_argument(
        "--reuse", help="keep the SQLite database in this file and reuse it on later runs"
    )
    parser.add_argument("--profile", help="print a cProfile of one case's heavy side")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    groups = {name.split(".")[0] for name in TARGETS}
    unknown = {name for name in args.only if name not in TARGETS and name not in groups}
    if unknown or (args.profile and args.profile not in TARGETS):
        parser.error(f"unknown case {', '.join(sorted(unknown)) or args.profile}")

    if args.engine:
        return run_engine(args.engine, args)
    engines = ["sqlite"] + (["postgres"] if args.postgres else [])
    status = 0
    for engine in engines:
        # Each engine in its own process: Django reads DATABASES once.
        child = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--engine", engine], check=False
        )
        status = status or child.returncode
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
