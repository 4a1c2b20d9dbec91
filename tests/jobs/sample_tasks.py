"""Jobs the tests enqueue: they leave traces a test can count."""

from __future__ import annotations

import time
from pathlib import Path

from apps.jobs.runner import JobContext, TransientError, job

FLAKY_FAILURES: dict[str, int] = {}


@job(max_attempts=3)
def add(ctx: JobContext, a: int, b: int) -> int:
    return a + b


@job(max_attempts=3)
def flaky(ctx: JobContext, name: str, failures: int) -> str:
    """Fails `failures` times with a transient error, then succeeds."""
    seen = FLAKY_FAILURES.get(name, 0)
    if seen < failures:
        FLAKY_FAILURES[name] = seen + 1
        raise TransientError(f"down for now ({seen + 1})")
    return "done"


@job(max_attempts=1)
def broken(ctx: JobContext) -> None:
    raise ValueError("the data is not what it should be")


@job(time_limit=1, max_attempts=3)
def slow_steps(ctx: JobContext, steps: int) -> int:
    for step in range(steps):
        time.sleep(0.3)
        ctx.progress(step + 1, steps, f"step {step + 1} of {steps}")
    return steps


@job(max_attempts=3)
def write_marker(ctx: JobContext, path: str, seconds: float) -> str:
    """Appends the attempt to a file, works for `seconds`, then appends "done"."""
    marker = Path(path)
    with marker.open("a") as file:
        file.write(f"start {ctx.attempt}\n")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        ctx.check()
    with marker.open("a") as file:
        file.write("done\n")
    return "written"
