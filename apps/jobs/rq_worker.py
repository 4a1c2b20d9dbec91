"""The RQ worker class for TASKS_BACKEND=rq (settings.RQ["WORKER_CLASS"]).

RQ's default worker forks a child process for every task, which then opens its own database
connection and drops it without a goodbye: tens of milliseconds a job, and one PostgreSQL
connection set up and torn down each time. Our jobs keep their own lease, heartbeat and time
limit (apps/jobs/runner.py) and a killed worker is recovered through its lease, so the fork
buys nothing here. This worker runs tasks in its own process, like the database queue's worker,
and keeps its connection between tasks the way Django keeps one between requests.
"""

from __future__ import annotations

from django.db import close_old_connections
from rq.worker import SimpleWorker


class JobsWorker(SimpleWorker):
    def execute_job(self, job, queue):
        # As around a request: drop a connection that broke or outlived CONN_MAX_AGE.
        close_old_connections()
        try:
            return super().execute_job(job, queue)
        finally:
            close_old_connections()
