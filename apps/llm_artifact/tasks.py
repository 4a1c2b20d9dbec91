"""The artifacts' background work (apps/jobs runs it): runs and exports that nobody has to
wait on with a page open, and the clean-up of old export files.

Each job runs with the background time limit of the artifact's data source
(`?background_timeout=` on its URL, settings.DATA_SOURCE_BACKGROUND_TIMEOUT_SECONDS), and
its query is interrupted when the job is cancelled or runs out of time (ctx.on_stop).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.datasources.executor import QueryFailed, QueryInterrupt
from apps.datasources.exports import EXPORT_FORMATS
from apps.datasources.sources import get_data_source
from apps.jobs.runner import JobContext, every, job
from apps.llm_artifact.background import expected_rows, job_for
from apps.llm_artifact.models import Artifact, ArtifactJob
from apps.llm_artifact.parameters import resolve_values
from apps.llm_artifact.services import ExportFailed, count_rows, export_artifact, run_artifact

# Progress is written at most this often (each report is a write to the app's database).
PROGRESS_SECONDS = 0.5
# An unfinished file (.part) of an export whose worker died is swept after this.
PARTIAL_FILE_HOURS = 6


class RunFailed(Exception):
    """The query ran and failed (its run is recorded); the job fails with its message."""


def _runner(artifact_id: int, user_id: int) -> tuple[Artifact, object]:
    """The artifact and the user the job runs as, who must still be allowed to run it."""
    user = get_user_model().objects.get(pk=user_id, is_active=True)
    artifact = Artifact.objects.visible_to(user).get(pk=artifact_id)
    if not user.has_perm("artifacts.run", artifact):
        raise PermissionError(_("This user may no longer run this artifact."))
    return artifact, user


def _stopping(ctx: JobContext) -> QueryInterrupt:
    interrupt = QueryInterrupt()
    ctx.on_stop(interrupt.request)
    return interrupt


@job(time_limit=3600, max_attempts=3)
def run_artifact_in_background(
    ctx: JobContext, artifact_id: int, user_id: int, raw_params: dict, reason: str = ""
) -> dict:
    """Run an artifact as `user_id` (who must still be allowed to run it) and record the run.

    Running twice (a worker died after recording) records two runs, which is what a user who
    pressed Run twice would see too; nothing is sent or changed elsewhere.
    """
    artifact, user = _runner(artifact_id, user_id)
    record = job_for(
        ctx.job,
        artifact=artifact,
        kind=ArtifactJob.Kind.RUN,
        params=raw_params,
        reason=reason,
    )
    source = get_data_source(artifact.data_source)
    ctx.progress(0.0, text=_("Running the query"))
    try:
        outcome = run_artifact(
            artifact,
            user=user,
            raw_params=raw_params,
            timeout=source.background_timeout_seconds,
            interrupt=_stopping(ctx),
        )
    except ValidationError as exc:
        raise RunFailed(" ".join(exc.messages)) from None
    ArtifactJob.objects.filter(pk=record.pk).update(
        run=outcome.run, rows_written=outcome.run.row_count
    )
    if outcome.result is None:
        ctx.check()  # a query stopped by a cancel or the time limit ends the job as such
        raise RunFailed(outcome.run.error)
    return {"run": outcome.run.pk, "outcome": outcome.run.outcome}


@job(time_limit=3600, max_attempts=2)
def export_artifact_in_background(
    ctx: JobContext,
    artifact_id: int,
    user_id: int,
    raw_params: dict,
    export_format: str,
    reason: str = "",
) -> dict:
    """Export the artifact's full result as `user_id` into a file under
    settings.EXPORT_FILES_DIR, reporting rows written of the rows counted.

    The file is written under a temporary name and renamed when complete, so a download
    never gets half a file; a worker that dies leaves only the temporary file (swept by
    delete_old_export_files) and the next attempt writes a new one. Recorded as one run.
    """
    artifact, user = _runner(artifact_id, user_id)
    record = job_for(
        ctx.job,
        artifact=artifact,
        kind=ArtifactJob.Kind.EXPORT,
        export_format=export_format,
        params=raw_params,
        reason=reason,
    )
    source = get_data_source(artifact.data_source)
    timeout = source.background_timeout_seconds
    interrupt = _stopping(ctx)
    try:
        values = resolve_values(artifact.query_params, raw_params, data_source=source.name)
    except ValidationError as exc:
        raise RunFailed(" ".join(exc.messages)) from None
    ctx.progress(0.0, text=_("Counting the rows"))
    try:
        counted = count_rows(artifact, values, timeout=timeout, interrupt=interrupt)
        total = expected_rows(counted, source, export_format)
    except QueryFailed:
        ctx.check()
        total = None  # the export itself says what is wrong, or runs without a total
    ArtifactJob.objects.filter(pk=record.pk).update(total_rows=total)

    folder = settings.EXPORT_FILES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # Unguessable, and new for every attempt: nothing but the download view hands it out.
    name = f"{artifact.pk}-{uuid.uuid4().hex}.{EXPORT_FORMATS[export_format].extension}"
    partial = folder / f"{name}.part"
    try:
        export = export_artifact(
            artifact,
            user=user,
            raw_params=raw_params,
            export_format=export_format,
            timeout=timeout,
            interrupt=interrupt,
            on_batch=_progress_reporter(ctx, record, total),
        )
    except ValidationError as exc:
        raise RunFailed(" ".join(exc.messages)) from None
    except ExportFailed as exc:
        ArtifactJob.objects.filter(pk=record.pk).update(run=exc.run)
        ctx.check()
        raise RunFailed(exc.run.error) from None
    _write(ctx, record, export, partial)
    ctx.check()
    partial.rename(folder / name)
    size = (folder / name).stat().st_size
    rows = export.run.row_count if export.run else 0
    ArtifactJob.objects.filter(pk=record.pk).update(
        file_name=name,
        download_name=export.filename,
        file_size=size,
        rows_written=rows,
        expires_at=timezone.now() + timedelta(hours=settings.EXPORT_FILE_KEEP_HOURS),
    )
    ctx.progress(1.0, text=_("%(rows)s rows written") % {"rows": f"{rows:,}"})
    return {"run": export.run.pk if export.run else None, "rows": rows, "bytes": size}


def _progress_reporter(ctx: JobContext, record: ArtifactJob, total: int | None):
    """on_batch for export_artifact: rows written of the total, at most every
    PROGRESS_SECONDS (each report is a write; it also checks for a cancel)."""
    last_report = 0.0

    def on_batch(rows: int) -> None:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report < PROGRESS_SECONDS:
            return
        last_report = now
        ArtifactJob.objects.filter(pk=record.pk).update(rows_written=rows)
        text = (
            _("%(done)s of %(total)s rows written") % {"done": f"{rows:,}", "total": f"{total:,}"}
            if total
            else _("%(done)s rows written") % {"done": f"{rows:,}"}
        )
        # Writing the file after the last row (XLSX) takes a while too: stay below 100%.
        ctx.progress(min(rows / total, 0.99) if total else 0.0, text=text)

    return on_batch


def _write(ctx: JobContext, record: ArtifactJob, export, partial) -> None:
    """Write the export's bytes to `partial`; on any failure remove it. The export's run is
    recorded either way and linked to the job."""
    complete = False
    try:
        with partial.open("wb") as file:
            for chunk in export:
                file.write(chunk)
        complete = True
    except QueryFailed:
        ctx.check()  # a query stopped by a cancel or the time limit ends the job as such
        raise
    finally:
        export.close()  # records the run, whatever happened
        if export.run is not None:
            ArtifactJob.objects.filter(pk=record.pk).update(run=export.run)
        if not complete:
            partial.unlink(missing_ok=True)


@every(seconds=300)
def delete_old_export_files() -> None:
    """Delete export files past their keeping time, and unfinished ones left by a worker
    that died. Every worker runs it: each file is claimed by one conditional UPDATE."""
    for record in ArtifactJob.objects.expired()[:500]:
        record.delete_file()
    folder = settings.EXPORT_FILES_DIR
    if not folder.is_dir():
        return
    cutoff = time.time() - PARTIAL_FILE_HOURS * 3600
    for path in folder.glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            pass  # another worker swept it first
