"""Running an artifact: the one workflow the artifact page, the chat card, the API, the
admin action and the command line share."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from apps.datasources.executor import QueryFailed, execute
from apps.datasources.guard import SQLRejected, referenced_parameters
from apps.datasources.sources import UnknownDataSource, get_data_source
from apps.llm_artifact.models import Artifact, ArtifactRun, undeclared_parameter_errors
from apps.llm_artifact.parameters import resolve_values


def run_artifact(artifact: Artifact, *, user: Any, raw_params: dict) -> ArtifactRun:
    """Validate the parameters, run the artifact's SQL read-only and record the run.

    Bad or missing parameter values raise ValidationError({name: message}) and record
    nothing: the user fixes the form and tries again. Every run that reaches the data
    source (or is refused on the way) is recorded, updates the artifact's statistics and
    status (see Artifact.record_run), and is returned with `run.result`, the QueryResult,
    or None when it failed; `run.error` then says why in plain words.
    """
    values = resolve_values(artifact.query_params, raw_params)
    started_at = timezone.now()
    clock = time.perf_counter()
    result = None
    outcome, error = ArtifactRun.Outcome.OK, ""
    try:
        _check_parameters(artifact)
        result = execute(artifact.data_source, artifact.sql_query, values)
    except QueryFailed as exc:
        outcome, error = exc.outcome, exc.message
    elapsed_ms = round((time.perf_counter() - clock) * 1000, 3)
    run = artifact.record_run(
        user=user,
        outcome=outcome,
        started_at=started_at,
        params=values,
        duration_ms=result.duration_ms if result else elapsed_ms,
        row_count=result.row_count if result else 0,
        truncated=result.truncated if result else False,
        error=error,
    )
    run.result = result
    return run


def _check_parameters(artifact: Artifact) -> None:
    # Saving validates this too, but artifacts can be stored without full_clean (fixtures,
    # bulk tools) and the guard may have grown stricter since: check before running.
    try:
        dialect = get_data_source(artifact.data_source).dialect
        used = referenced_parameters(artifact.sql_query, dialect=dialect)
    except UnknownDataSource as exc:
        raise QueryFailed(ArtifactRun.Outcome.ERROR, str(exc)) from None
    except SQLRejected as exc:
        raise QueryFailed(ArtifactRun.Outcome.REJECTED, exc.message) from None
    problems = undeclared_parameter_errors(used, artifact.query_params)
    if problems:
        raise QueryFailed(ArtifactRun.Outcome.ERROR, " ".join(problems))
