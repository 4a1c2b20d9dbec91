"""The artifact list and the API list for a user with many shares against an owner-only user.

    .venv/bin/python bench/share_scale.py [--repeats 7] [--postgres URL] [--reuse PATH]
                                          [--only artifact_list,api_list] [--profile CASE]

Builds, in a throwaway database (SQLite; then PostgreSQL with --postgres, a superuser DSN, or
BENCH_POSTGRES_URL / TEST_POSTGRES_URL), 1,000 users in 50 groups and 100,000 artifacts
spread over them: 80% private, 15% shared with one or two groups (a third of those may
edit), 5% shared with everyone; a data source granted to one group only holds some of
them. Two of the users are measured, each owning about a hundred artifacts:

- "shared": a member of the three groups most artifacts are shared with, so their list is
  their own rows, everyone's and about 7,000 shared with them (some on the granted source);
- "owner": in no group: their own rows and everyone's only.

Each page is asked as both through Django's test client (the whole middleware, template and
DRF stack), taking turns: the median and p95 of each, their ratio (target at most 1.5x),
sizes and query counts. Exits non-zero when a target is missed, when the shared side needs
more queries than the owner side, or when a request does not answer 200. The measuring and
reporting are bench/scale.py's.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import scale
from _common import build_sqlite, postgres_url, setup_django
from scale import START, YEAR, Case, Request, database, explicit_timestamps, measure, report

#             case                        shared / owner, max size
TARGETS: dict[str, tuple[float, int | None]] = {
    "artifact_list.first": (1.5, None),
    "artifact_list.filtered": (1.5, None),
    "artifact_list.deep_page": (3.0, None),
    "api_list.first": (1.5, None),
    "api_list.filtered": (1.5, None),
    "api_list.deep_page": (3.0, None),
}
USERS, GROUPS, ARTIFACTS = 1_000, 50, 100_000
# The groups the "shared" user is in: half of all group shares go to them.
BIG_GROUPS = 3
DEEP_PAGE = 150  # rows 3,726-3,750: within both users' lists
BATCH = 5000


def build(rng: random.Random) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from apps.datasources.models import DataSourceGrant, DataSourcePolicy
    from apps.llm_artifact.models import Artifact, ArtifactShare

    User = get_user_model()
    groups = Group.objects.bulk_create([Group(name=f"team {n:02}") for n in range(GROUPS)])
    names = ["bench-shared", "bench-owner"] + [f"bench-user-{n:04}" for n in range(USERS - 2)]
    # Unusable passwords: the bench signs in with force_login, and hashing costs minutes.
    users = User.objects.bulk_create([User(username=name, password="!") for name in names])
    memberships = [User.groups.through(user=users[0], group=g) for g in groups[:BIG_GROUPS]]
    for user in users[2:]:
        for group in rng.sample(groups, rng.randint(1, 3)):
            memberships.append(User.groups.through(user=user, group=group))
    User.groups.through.objects.bulk_create(memberships, batch_size=BATCH)
    # "finance" is granted to the first big group: the owner-side user may not use it.
    policy = DataSourcePolicy.objects.create(source="finance")
    DataSourceGrant.objects.create(policy=policy, group=groups[0])

    artifacts, shares = [], []
    for i in range(ARTIFACTS):
        created = START + timedelta(seconds=YEAR * i / ARTIFACTS)
        runs = rng.randint(0, 50)
        kind = i % 20
        visibility = "everyone" if kind == 0 else "groups" if kind <= 3 else "private"
        artifacts.append(
            Artifact(
                title=f"{scale.TOPICS[i % len(scale.TOPICS)].capitalize()} by month, cut {i}",
                description="Monthly figures for the marketplace.",
                sql_query=f"SELECT id, customer, amount FROM events WHERE id <= {i % 200 + 1}",
                data_source="finance" if i % 10 == 7 else "bench",
                status=scale.STATUSES[i % len(scale.STATUSES)],
                owner=users[rng.randrange(USERS)],
                visibility=visibility,
                execution_count=runs,
                last_executed_at=created + timedelta(days=1) if runs else None,
                created_at=created,
                updated_at=created + timedelta(hours=rng.randint(0, 24 * 30)),
            )
        )
    with explicit_timestamps(Artifact, ArtifactShare):
        artifacts = Artifact.objects.bulk_create(artifacts, batch_size=BATCH)
        for i, artifact in enumerate(artifacts):
            # Shares of private rows too (kept for when they are shared again): they give
            # nobody anything, and the list must not show them.
            if artifact.visibility == "groups" or i % 50 == 5:
                chosen = rng.sample(groups[:BIG_GROUPS], 1) if i % 2 else []
                chosen += rng.sample(groups[BIG_GROUPS:], rng.randint(0, 1) if chosen else 1)
                for group in chosen:
                    shares.append(
                        ArtifactShare(
                            artifact=artifact,
                            group=group,
                            can_edit=i % 3 == 0,
                            created_at=artifact.created_at,
                        )
                    )
        ArtifactShare.objects.bulk_create(shares, batch_size=BATCH)


def counts() -> dict[str, int]:
    from django.contrib.auth import get_user_model

    from apps.llm_artifact.models import Artifact, ArtifactShare

    users = {u.username: u for u in get_user_model().objects.filter(username__in=SIDES.values())}
    return {
        "artifacts": Artifact.objects.count(),
        "shares": ArtifactShare.objects.count(),
        **{
            f"{side} sees": Artifact.objects.visible_to(users[name]).count()
            for side, name in SIDES.items()
        },
        **{
            f"{side} owns": Artifact.objects.filter(owner=users[name]).count()
            for side, name in SIDES.items()
        },
    }


SIDES = {"shared": "bench-shared", "owner": "bench-owner"}


def cases() -> list[Case]:
    def pair(name: str, path: str) -> Case:
        return Case(name, "shared", "owner", Request("shared", path), Request("owner", path))

    return [
        pair("artifact_list.first", "/artifacts/"),
        pair("artifact_list.filtered", "/artifacts/?status=failed"),
        pair("artifact_list.deep_page", f"/artifacts/?page={DEEP_PAGE}"),
        pair("api_list.first", "/api/artifacts/"),
        pair("api_list.filtered", "/api/artifacts/?status=failed&ordering=-updated_at"),
        pair("api_list.deep_page", f"/api/artifacts/?page={DEEP_PAGE}&ordering=-created_at"),
    ]


def run_engine(engine: str, args) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="bench-share-") as tmp,
        database(engine, args, Path(tmp)) as url,
    ):
        source = build_sqlite(Path(tmp) / "source.sqlite3", scale.SOURCE_ROWS)
        os.environ["DATABASE_URL"] = url
        os.environ["DATA_SOURCES"] = f"bench=sqlite:///{source},finance=sqlite:///{source}"
        os.environ["DEFAULT_DATA_SOURCE"] = "bench"
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        setup_django()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.staticfiles.storage import staticfiles_storage
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        manifest = getattr(staticfiles_storage, "manifest_name", None)
        if manifest and not (Path(settings.STATIC_ROOT) / manifest).exists():
            call_command("collectstatic", interactive=False, verbosity=0)
        call_command("migrate", verbosity=0)

        started = time.perf_counter()
        verb = "reused"
        if not get_user_model().objects.filter(username="bench-shared").exists():
            build(random.Random(12))
            # What autovacuum (PostgreSQL) or `make run`'s optimize would have done by
            # the time there is this much: the planners choose by the tables' statistics.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            verb = "built"
        built = ", ".join(f"{key} {value:,}" for key, value in counts().items())
        print(f"{connection.vendor}: {verb} in {time.perf_counter() - started:.1f} s: {built}")

        clients = {}
        for side, username in SIDES.items():
            clients[side] = Client()
            clients[side].force_login(get_user_model().objects.get(username=username))
        chosen = [
            case
            for case in cases()
            if not args.only or case.name in args.only or case.name.split(".")[0] in args.only
        ]
        if args.profile:
            for case in chosen:
                if case.name == args.profile:
                    scale.profile(clients, case)
            return 0
        print(
            f"median and p95 of {args.repeats} requests each, ms; sizes of the response body; "
            "queries shared/owner"
        )
        print(
            f"{'case':<26}{'shared':>9} {'p95':>8}{'owner':>10} {'p95':>8}{'ratio':>9} "
            f"{'target':>7}{'shared size':>12}{'owner size':>11}{'queries':>10}"
        )
        misses = []
        for case in chosen:
            shared_m, owner_m = measure(clients, case, args.repeats)
            misses += report(case, shared_m, owner_m)
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
        "--only",
        type=lambda value: {item.strip() for item in value.split(",") if item.strip()},
        default=set(),
        help=f"groups or cases, comma-separated: {', '.join(TARGETS)}",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=postgres_url(),
        help="a PostgreSQL server (superuser DSN): also run there, in a throwaway database",
    )
    parser.add_argument(
        "--reuse", help="keep the SQLite database in this file and reuse it on later runs"
    )
    parser.add_argument("--profile", help="print a cProfile of one case's shared side")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    groups = {name.split(".")[0] for name in TARGETS}
    unknown = {name for name in args.only if name not in TARGETS and name not in groups}
    if unknown or (args.profile and args.profile not in TARGETS):
        parser.error(f"unknown case {', '.join(sorted(unknown)) or args.profile}")
    # report() reads the targets from bench/scale.py's module.
    scale.TARGETS = TARGETS

    if args.engine:
        return run_engine(args.engine, args)
    engines = ["sqlite"] + (["postgres"] if args.postgres else [])
    status = 0
    for engine in engines:
        child = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--engine", engine], check=False
        )
        status = status or child.returncode
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
