"""`manage.py worker`: one background worker process.

It takes jobs from the configured task queue (the database by default, or RQ on Redis) and, in a
thread beside them, runs the periodic work every worker shares: enqueueing due schedules and
taking up jobs whose worker died. Start as many as the load needs (`make worker`); they
coordinate through the database, so any number may run on any number of machines.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker

from apps.jobs.runner import run_periodic, worker_id

logger = logging.getLogger("apps.jobs")


class Ticker(threading.Thread):
    def __init__(self, interval: float):
        super().__init__(name="jobs-periodic", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                run_periodic()
        finally:
            connection.close()


class Command(BaseCommand):
    help = "Run a background worker: queued jobs, due schedules and recovery of lost jobs."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.JOBS_POLL_SECONDS,
            help="Seconds between looks at an empty database queue (default: %(default)s).",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Run what is queued now, then exit (tests and one-off catch-ups).",
        )
        parser.add_argument("--max-tasks", type=int, default=None)
        parser.add_argument(
            "--no-periodic",
            action="store_true",
            help="Only run queued jobs: no schedules and no recovery from this worker.",
        )

    def handle(self, *, interval, batch, max_tasks, no_periodic, verbosity, **options) -> None:
        # The root logger's console handler (settings.LOGGING) prints what passes this level;
        # a handler of our own here would print every line twice.
        logger.setLevel(logging.INFO if verbosity else logging.WARNING)
        backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
        ticker = None
        if not no_periodic:
            run_periodic()  # at once: a restarted worker takes up lost jobs without waiting
            ticker = Ticker(interval=1.0)
            ticker.start()
        try:
            if isinstance(backend, DatabaseBackend):
                worker = Worker(
                    queue_names=["*"],
                    interval=interval,
                    batch=batch,
                    backend_name=DEFAULT_TASK_BACKEND_ALIAS,
                    startup_delay=not batch,
                    max_tasks=max_tasks,
                    worker_id=worker_id(),
                    excluded_queue_names=[],
                )
                worker.configure_signals()
                logger.info("Worker %s takes jobs from the database queue", worker_id())
                worker.run()
            elif backend.__class__.__module__.startswith("django_tasks_rq"):
                logger.info("Worker %s takes jobs from RQ", worker_id())
                queues = sorted(backend.queues)
                # The scheduler moves deferred tasks (a retry's back-off) to the queue when due.
                call_command(
                    "rqworker",
                    *queues,
                    burst=batch,
                    with_scheduler=True,
                    max_jobs=max_tasks,
                    verbosity=verbosity,
                )
            else:
                raise CommandError(
                    f"The task backend {backend.__class__.__name__} runs tasks without a worker."
                )
        finally:
            if ticker:
                ticker.stopped.set()
