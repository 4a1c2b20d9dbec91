"""Background runs and exports of an artifact: starting them, and deciding when a page's
run or export goes to a worker instead of holding the request open.

The work itself is in tasks.py (run_artifact_in_background, export_artifact_in_background);
what it is for, and an export's file, in models.ArtifactJob; how it goes in apps.jobs' Job.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.datasources.executor import QueryFailed
from apps.datasources.exports import XLSX_MAX_ROWS
from apps.datasources.sources import DataSource, get_data_source
from apps.jobs.models import Job
from apps.llm_artifact.models import Artifact, ArtifactJob, ArtifactRun
from apps.llm_artifact.parameters import resolve_values
from apps.llm_artifact.services import count_rows

# A worker's time limit for a whole job, beyond the query's own limit: recording the run,
# and writing and renaming the file.
JOB_MARGIN_SECONDS = 60
# An export's job: its query's limit applies per batch, so the whole may take longer.
EXPORT_JOB_SECONDS = 3600


def job_for(job: Job, **fields: Any) -> ArtifactJob:
    """The ArtifactJob of `job`, created with `fields` by whichever of the web process
    (after enqueueing) and the worker (when it starts) gets there first."""
    found = ArtifactJob.objects.filter(job=job).first()
    if found:
        return found
    try:
        with transaction.atomic():
            return ArtifactJob.objects.create(job=job, **fields)
    except IntegrityError:
        return ArtifactJob.objects.get(job=job)


def _key(artifact: Artifact, user: Any, kind: str, export_format: str, raw_params: dict) -> str:
    # Pressing the button twice gives the same job while the first is unfinished.
    values = json.dumps(raw_params, sort_keys=True, default=str)
    digest = hashlib.sha256(values.encode()).hexdigest()[:16]
    return f"{artifact.pk}:{user.pk}:{kind}:{export_format}:{digest}"


def _plain(raw_params: dict) -> dict:
    """The form's cleaned values as JSON (dates as ISO text): the job resolves them again."""
    return json.loads(json.dumps(raw_params, default=str))


def start_background_run(
    artifact: Artifact, *, user: Any, raw_params: dict, reason: str = ""
) -> ArtifactJob:
    """Queue a run of `artifact` as `user` with the source's background time limit. Bad
    values raise ValidationError({name: message}) now, not in the worker."""
    from apps.llm_artifact.tasks import run_artifact_in_background

    resolve_values(artifact.query_params, raw_params, data_source=artifact.data_source)
    source = get_data_source(artifact.data_source)
    params = _plain(raw_params)
    job = run_artifact_in_background.enqueue(
        artifact.pk,
        user.pk,
        params,
        reason,
        requested_by=user,
        key=_key(artifact, user, ArtifactJob.Kind.RUN, "", params),
        time_limit=math.ceil(source.background_timeout_seconds) + JOB_MARGIN_SECONDS,
    )
    return job_for(job, artifact=artifact, kind=ArtifactJob.Kind.RUN, params=params, reason=reason)


def start_background_export(
    artifact: Artifact, *, user: Any, raw_params: dict, export_format: str, reason: str = ""
) -> ArtifactJob:
    """Queue an export of `artifact`'s full result as `user` into a file kept for
    settings.EXPORT_FILE_KEEP_HOURS. Bad values raise ValidationError as in
    start_background_run."""
    from apps.llm_artifact.tasks import export_artifact_in_background

    resolve_values(artifact.query_params, raw_params, data_source=artifact.data_source)
    source = get_data_source(artifact.data_source)
    params = _plain(raw_params)
    job = export_artifact_in_background.enqueue(
        artifact.pk,
        user.pk,
        params,
        export_format,
        reason,
        requested_by=user,
        key=_key(artifact, user, ArtifactJob.Kind.EXPORT, export_format, params),
        time_limit=max(EXPORT_JOB_SECONDS, 2 * math.ceil(source.background_timeout_seconds)),
    )
    return job_for(
        job,
        artifact=artifact,
        kind=ArtifactJob.Kind.EXPORT,
        export_format=export_format,
        params=params,
        reason=reason,
    )


def timeout_reason(source: DataSource) -> str:
    return _(
        "The query ran longer than the %(timeout)s s limit of a page, so it runs in the "
        "background, where its limit is %(background)s s."
    ) % {
        "timeout": f"{source.timeout_seconds:g}",
        "background": f"{source.background_timeout_seconds:g}",
    }


def continue_in_background(
    artifact: Artifact, run: ArtifactRun, *, user: Any, raw_params: dict
) -> ArtifactJob | None:
    """After a page's run timed out: run it again in the background when the source gives
    background runs a larger limit (the run form says so); None otherwise."""
    if run.outcome != ArtifactRun.Outcome.TIMEOUT:
        return None
    source = get_data_source(artifact.data_source)
    if source.background_timeout_seconds <= source.timeout_seconds:
        return None
    return start_background_run(
        artifact, user=user, raw_params=raw_params, reason=timeout_reason(source)
    )


def export_size(artifact: Artifact, raw_params: dict) -> tuple[int | None, str]:
    """Whether an export from a page is too big to stream from the web process: returns
    (the row count, or None when unknown, and the reason to go to the background, "" when
    it can stream). Bad values raise ValidationError as the export itself would."""
    source = get_data_source(artifact.data_source)
    values = resolve_values(artifact.query_params, raw_params, data_source=artifact.data_source)
    try:
        rows = count_rows(artifact, values, timeout=source.timeout_seconds)
    except QueryFailed as exc:
        if exc.outcome == ArtifactRun.Outcome.TIMEOUT:
            reason = _(
                "Counting its rows took longer than the %(timeout)s s limit of a page, so "
                "the file is written in the background."
            ) % {"timeout": f"{source.timeout_seconds:g}"}
            return None, reason
        # Refused or failing: the export itself fails the same way, and says so at once.
        return None, ""
    threshold = settings.BACKGROUND_EXPORT_ROWS
    if rows > threshold:
        reason = _(
            "The result has %(rows)s rows, more than the %(threshold)s a page streams, so "
            "the file is written in the background."
        ) % {"rows": f"{rows:,}", "threshold": f"{threshold:,}"}
        return rows, reason
    return rows, ""


def expected_rows(total: int | None, source: DataSource, export_format: str) -> int | None:
    """The rows an export will write: the result's, up to the source's cap (and Excel's)."""
    if total is None:
        return None
    cap = source.export_max_rows
    if export_format == "xlsx":
        cap = min(cap, XLSX_MAX_ROWS)
    return min(total, cap)
