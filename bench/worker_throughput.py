"""Background workers on PostgreSQL: jobs per second with 1, 2 and 4 worker processes.

    .venv/bin/python bench/worker_throughput.py [--jobs 1000] [--workers 1,2,4]
        [--source-wait 0.2] [--scale 0.1] [--job apps.schedules.tasks.refresh_schedule]
        [--postgres URL] [--target 3.0] [--max-latency 2.0]

Builds, on the PostgreSQL server named by --postgres (or BENCH_POSTGRES_URL, TEST_POSTGRES_URL,
or a postgresql:// DATABASE_URL: a superuser DSN), two throwaway databases: the app's (migrated,
with the demo objects of `seed_demo`) and the demo marketplace data source (`seed_demo
--scale`). Then, for each worker count, it starts that many `manage.py worker` processes, lets
each take a warm-up job, enqueues --jobs jobs that refresh the demo artifacts (the --job
function, one artifact after another), and waits for all of them. The default job is the
schedules' refresh (apps/schedules/tasks.py): each demo SQL artifact gets a schedule of its
owner (paused, so the workers' timetable pass leaves it alone), and each job refreshes one of
them for its own due time, as the timetable would enqueue it (a Refresh row, the run as the
owner, the schedule's outcome); `--job apps.llm_artifact.tasks.run_artifact_in_background`
measures the plain background run instead. It prints the throughput
(jobs from the first enqueue to the last finish), the queue latency (enqueue to start, from
Job.created_at and Job.started_at) at p50 and p99 under that backlog, and, with the most
workers, the latency p99 at a steady half of their throughput: what a job waits when the
workers keep up. Both databases are dropped afterwards.

A refresh waits on its data source: a warehouse query takes a while on another machine. Here
the data source is on the same two cores, so each artifact's SQL is wrapped to wait
--source-wait seconds inside PostgreSQL (`pg_sleep`, allowed for this source only) around the
demo query, which still runs in full; the worker itself does everything it always does (claim,
lease, heartbeat, guard, executor, recording the run). --source-wait 0 measures the bare demo
queries, which are CPU-bound on this machine (see bench/README.md).

Exits non-zero when a job does not succeed (or a refresh fails), when the last worker count
is below --target times the first one's throughput, or when the steady latency p99 is above
--max-latency.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from _common import ROOT, empty_postgres_database, postgres_url, setup_django

RUN = "apps.llm_artifact.tasks.run_artifact_in_background"
REFRESH = "apps.schedules.tasks.refresh_schedule"

# The demo artifacts' schedules (artifact id -> schedule id), made by demo_schedules().
SCHEDULES: dict[int, int] = {}
# Every refresh job gets a due time of its own (a schedule refreshes once per due time).
_due_times = itertools.count()
_FIRST_DUE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _refresh_arguments(artifact) -> tuple[tuple, dict]:
    from apps.schedules.tasks import refresh_key

    schedule_id = SCHEDULES[artifact.pk]
    due = _FIRST_DUE + dt.timedelta(seconds=next(_due_times))
    return (schedule_id, due.isoformat()), {"key": refresh_key(schedule_id, due)}


# How each job a --job may name is enqueued for one demo artifact: its arguments and the
# enqueue's keywords.
ARGUMENTS: dict[str, Callable] = {
    REFRESH: _refresh_arguments,
    RUN: lambda artifact: ((artifact.pk, artifact.owner_id, {}), {}),
}


def main() -> int:
    args = parse_args()
    server = args.postgres or postgres_url() or _postgres_database_url()
    if not server:
        print("Needs a PostgreSQL server: --postgres URL, BENCH_POSTGRES_URL or TEST_POSTGRES_URL.")
        return 2
    with ExitStack() as stack:
        app_url = stack.enter_context(empty_postgres_database(server))
        source_url = stack.enter_context(empty_postgres_database(server))
        var_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-workers-"))
        env = prepare(app_url, source_url, Path(var_dir), args.scale)
        os.environ.update(env)
        setup_django()
        artifacts = demo_artifacts(args.source_wait)
        demo_schedules(artifacts)
        results = []
        for count in args.workers:
            result = measure(env, count, artifacts, args)
            results.append(result)
            report(count, result)
        steady = steady_latency(env, args.workers[-1], artifacts, results[-1], args)
    return verdict(args, results, steady)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument(
        "--workers", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 4]
    )
    parser.add_argument("--source-wait", type=float, default=0.2, help="seconds (see above)")
    parser.add_argument("--scale", type=float, default=0.1, help="demo dataset scale")
    parser.add_argument("--job", default=REFRESH, choices=sorted(ARGUMENTS))
    parser.add_argument("--postgres", default="")
    parser.add_argument("--target", type=float, default=3.0, help="last / first throughput")
    parser.add_argument("--max-latency", type=float, default=2.0, help="steady p99, seconds")
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    return parser.parse_args()


def _postgres_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


def prepare(app_url: str, source_url: str, var_dir: Path, scale: float) -> dict[str, str]:
    """The environment of every process here: the app database, the data source, the
    database queue; migrated and seeded."""
    # A superuser DSN: the source must accept it, and pg_sleep stands in for remote work.
    source = f"marketplace={source_url}?allow_privileged=true&allow_functions=pg_sleep"
    env = {
        "DATABASE_URL": app_url,
        "DATA_SOURCES": source,
        "TASKS_BACKEND": "database",
        "DJANGO_LOCAL_DEMO": "true",
        "VAR_DIR": str(var_dir),
        "PYTHONWARNINGS": "ignore",
    }
    started = time.monotonic()
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_demo", "--scale", str(scale), "-v0")
    elapsed = time.monotonic() - started
    print(f"Set up the app database and the demo (scale {scale}) in {elapsed:.0f} s")
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def demo_artifacts(source_wait: float) -> list:
    from apps.llm_artifact import types
    from apps.llm_artifact.models import Artifact

    demo = Artifact.objects.filter(owner__username="demo", artifact_type__in=types.sql_names())
    artifacts = list(demo.order_by("pk"))
    if source_wait > 0:
        for artifact in artifacts:
            sql = artifact.sql_query.strip().rstrip(";")
            artifact.sql_query = (
                f"WITH source_wait AS (SELECT pg_sleep({source_wait:g}))\n"
                f"SELECT refreshed.* FROM (\n{sql}\n) AS refreshed, source_wait"
            )
            artifact.save(update_fields=["sql_query"])
    return artifacts


def demo_schedules(artifacts: list) -> None:
    """A paused hourly schedule of its owner for each demo artifact, with no parameter values
    (the defaults): refreshed only by the jobs enqueued here."""
    from apps.schedules.models import Schedule

    for artifact in artifacts:
        schedule = Schedule.objects.create(
            artifact=artifact,
            owner=artifact.owner,
            kind=Schedule.Kind.HOURLY,
            minute=0,
            enabled=False,
            params={},
        )
        SCHEDULES[artifact.pk] = schedule.pk


def enqueue(artifacts: list, job_name: str, count: int, offset: int = 0) -> list:
    from apps.jobs.runner import job_function

    function = job_function(job_name)
    build = ARGUMENTS[job_name]
    ids = []
    for index in range(count):
        arguments, keywords = build(artifacts[(offset + index) % len(artifacts)])
        ids.append(function.enqueue(*arguments, **keywords).pk)
    return ids


def did_not_succeed(job) -> bool:
    """The job failed, or it is a refresh whose refresh failed (the job itself succeeds then:
    a failed refresh is recorded, counted and told to the schedule's owner)."""
    from apps.jobs.models import Job

    if job.status != Job.Status.SUCCEEDED:
        return True
    return job.name == REFRESH and (job.result or {}).get("outcome") != "ok"


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "worker", "-v0"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_until_finished(ids: list, timeout: float) -> None:
    from apps.jobs.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk__in=ids).unfinished().exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"Jobs still unfinished after {timeout:.0f} s")
        time.sleep(0.25)


def warm_up(artifacts: list, job_name: str, count: int) -> None:
    """Until each of `count` workers has taken a job: started, connected, polling."""
    from apps.jobs.models import Job, JobAttempt

    deadline = time.monotonic() + 120
    ids: list = []
    while JobAttempt.objects.filter(job__in=ids).values("worker").distinct().count() < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not all start within 120 s")
        if not Job.objects.filter(pk__in=ids).unfinished().exists():
            ids += enqueue(artifacts, job_name, count)
        time.sleep(0.1)
    wait_until_finished(ids, timeout=120)


def clear_queue() -> None:
    from django_tasks_db.models import DBTaskResult

    from apps.jobs.models import Job

    Job.objects.all().delete()
    DBTaskResult.objects.all().delete()


def measure(env, count: int, artifacts: list, args) -> dict:
    from apps.jobs.models import Job

    clear_queue()
    workers = start_workers(env, count)
    try:
        warm_up(artifacts, args.job, count)
        ids = enqueue(artifacts, args.job, args.jobs)
        wait_until_finished(ids, timeout=max(600.0, args.jobs * 2.0))
    finally:
        stop_workers(workers)
    jobs = list(Job.objects.filter(pk__in=ids))
    first = min(job.created_at for job in jobs)
    last = max(job.finished_at for job in jobs)
    waits = sorted((job.started_at - job.created_at).total_seconds() for job in jobs)
    return {
        "jobs": len(jobs),
        "failed": sum(did_not_succeed(job) for job in jobs),
        "seconds": (last - first).total_seconds(),
        "throughput": len(jobs) / (last - first).total_seconds(),
        "p50": statistics.median(waits),
        "p99": percentile(waits, 0.99),
    }


def steady_latency(env, count: int, artifacts: list, busiest: dict, args) -> dict:
    """Latency when the workers keep up: jobs arrive evenly at half their throughput."""
    from apps.jobs.models import Job

    clear_queue()
    rate = busiest["throughput"] / 2
    total = max(20, int(rate * args.steady_seconds))
    workers = start_workers(env, count)
    try:
        warm_up(artifacts, args.job, count)
        ids, started = [], time.monotonic()
        for index in range(total):
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
            ids += enqueue(artifacts, args.job, 1, offset=index)
        wait_until_finished(ids, timeout=300)
    finally:
        stop_workers(workers)
    jobs = list(Job.objects.filter(pk__in=ids))
    waits = sorted((job.started_at - job.created_at).total_seconds() for job in jobs)
    result = {
        "jobs": len(jobs),
        "rate": rate,
        "failed": sum(did_not_succeed(job) for job in jobs),
        "p50": statistics.median(waits),
        "p99": percentile(waits, 0.99),
    }
    print(
        f"steady  {count} workers  {len(jobs):>5,} jobs at {rate:5.1f}/s   "
        f"queue latency p50 {result['p50'] * 1000:6.0f} ms   p99 {result['p99'] * 1000:6.0f} ms"
    )
    return result


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))]


def report(count: int, result: dict) -> None:
    print(
        f"burst   {count} worker{'s' if count > 1 else ' '}  {result['jobs']:>5,} jobs in "
        f"{result['seconds']:6.1f} s   {result['throughput']:6.1f} jobs/s   "
        f"queue latency p50 {result['p50']:6.1f} s   p99 {result['p99']:6.1f} s"
        + (f"   FAILED {result['failed']}" if result["failed"] else "")
    )


def verdict(args, results: list[dict], steady: dict) -> int:
    ratio = results[-1]["throughput"] / results[0]["throughput"]
    failed = sum(result["failed"] for result in results) + steady["failed"]
    ok_ratio = ratio >= args.target
    ok_latency = steady["p99"] <= args.max_latency
    print(
        f"ratio   {args.workers[-1]} workers / {args.workers[0]}: {ratio:.2f}x "
        f"(target >= {args.target:g}x) {'ok' if ok_ratio else 'MISSED'}"
    )
    print(
        f"steady queue latency p99 {steady['p99'] * 1000:.0f} ms "
        f"(target <= {args.max_latency * 1000:.0f} ms) {'ok' if ok_latency else 'MISSED'}"
    )
    if failed:
        print(f"{failed} jobs did not succeed")
    return 0 if ok_ratio and ok_latency and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
