"""Running an artifact: the one workflow the artifact page, the chat card, the API, the
admin action and the command line share; and exporting its full result as a file."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.datasources.access import is_usable_source, unknown_source_message
from apps.datasources.executor import (
    QueryFailed,
    QueryInterrupt,
    QueryResult,
    ResultColumn,
    RowBatches,
    execute,
    stream,
)
from apps.datasources.exports import EXPORT_FORMATS, export_filename
from apps.datasources.guard import SQLRejected, referenced_parameters
from apps.datasources.sources import UnknownDataSource, get_data_source
from apps.llm_artifact.models import (
    Artifact,
    ArtifactRun,
    result_snapshot,
    undeclared_parameter_errors,
)
from apps.llm_artifact.parameters import is_relative, resolve_values, validate_declarations
from apps.llm_artifact.templating import fill_slots, render


class RunResult(NamedTuple):
    """What run_artifact returns: the recorded run, and its rows when it succeeded."""

    run: ArtifactRun
    # None when the run failed; run.error then says why in plain words.
    result: QueryResult | None


def run_artifact(
    artifact: Artifact,
    *,
    user: Any,
    raw_params: dict,
    timeout: float | None = None,
    interrupt: QueryInterrupt | None = None,
) -> RunResult:
    """Validate the parameters, run the artifact's SQL read-only and record the run.

    `timeout` replaces the source's interactive limit (a worker passes its background
    limit) and `interrupt` lets another thread stop the query (a cancelled job).

    Bad or missing parameter values raise ValidationError({name: message}) and record
    nothing: the user fixes the form and tries again. Every run that reaches the data
    source (or is refused on the way) is recorded, updates the artifact's statistics and
    status (see Artifact.record_run), and is returned with its QueryResult (None when it
    failed) as a RunResult.
    """
    values = resolve_values(artifact.query_params, raw_params, data_source=artifact.data_source)
    started_at = timezone.now()
    clock = time.perf_counter()
    result = None
    outcome, error, error_detail = ArtifactRun.Outcome.OK, "", ""
    try:
        _check_parameters(artifact)
        result = execute(
            artifact.data_source,
            artifact.sql_query,
            values,
            timeout=timeout,
            interrupt=interrupt,
        )
    except QueryFailed as exc:
        outcome, error, error_detail = exc.outcome, exc.message, exc.detail
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
        error_detail=error_detail,
        columns=result.columns if result else None,
        snapshot=result_snapshot(result.rows) if result else None,
    )
    return RunResult(run, result)


def _check_parameters(artifact: Artifact) -> None:
    # Saving validates this too, but artifacts can be stored without full_clean (fixtures,
    # bulk tools) and the guard may have grown stricter since: check before running.
    try:
        source = get_data_source(artifact.data_source)
        used = referenced_parameters(
            artifact.sql_query, dialect=source.dialect, allow_functions=source.allow_functions
        )
    except UnknownDataSource as exc:
        raise QueryFailed(ArtifactRun.Outcome.ERROR, str(exc)) from None
    except SQLRejected as exc:
        raise QueryFailed(ArtifactRun.Outcome.REJECTED, exc.message) from None
    problems = undeclared_parameter_errors(used, artifact.query_params)
    if problems:
        raise QueryFailed(ArtifactRun.Outcome.ERROR, " ".join(problems))


def preview_sql(data_source: str, sql: str, *, declarations: Any, raw_params: dict) -> QueryResult:
    """Run SQL that is not saved yet (the editor's Run) as an artifact would run it, but
    record nothing: no ArtifactRun, no statistics, no status change.

    Bad declarations raise ValidationError (a list of messages) and bad values
    ValidationError({name: message}), like run_artifact; a refused, failing or slow query
    raises QueryFailed from the same guard, read-only executor and limits.
    """
    validate_declarations(declarations)
    values = resolve_values(declarations, raw_params)
    try:
        source = get_data_source(data_source)
        used = referenced_parameters(
            sql, dialect=source.dialect, allow_functions=source.allow_functions
        )
    except UnknownDataSource as exc:
        raise QueryFailed(ArtifactRun.Outcome.ERROR, str(exc)) from None
    except SQLRejected as exc:
        raise QueryFailed(ArtifactRun.Outcome.REJECTED, exc.message) from None
    problems = undeclared_parameter_errors(used, declarations)
    if problems:
        raise QueryFailed(ArtifactRun.Outcome.ERROR, " ".join(problems))
    return execute(source.name, sql, {name: values[name] for name in used})


class ExportFailed(Exception):
    """The export could not start; `run` is the recorded run that says why."""

    def __init__(self, run: ArtifactRun) -> None:
        super().__init__(run.error)
        self.run = run


def count_rows(
    artifact: Artifact,
    values: dict,
    *,
    timeout: float | None = None,
    interrupt: QueryInterrupt | None = None,
) -> int:
    """How many rows the artifact's full result has with these (resolved) values, by a
    COUNT(*) over its SQL through the same guard and read-only executor. Raises
    QueryFailed as a run would (a timeout when it cannot be told within `timeout`).

    Used to decide whether a page's export goes to the background, and for a background
    export's progress. Nothing is recorded.
    """
    # A line break before the closing parenthesis: the SQL may end in a -- comment.
    body = artifact.sql_query.strip().rstrip(";").strip()
    sql = f"SELECT COUNT(*) AS row_count FROM (\n{body}\n) AS counted"
    _check_parameters(artifact)
    result = execute(
        artifact.data_source, sql, values, max_rows=1, timeout=timeout, interrupt=interrupt
    )
    count = result.rows[0][0] if result.rows else None
    if not isinstance(count, int):
        raise QueryFailed(ArtifactRun.Outcome.ERROR, "The rows could not be counted.")
    return count


def _reporting(batches: RowBatches, on_batch: Callable[[int], None]) -> Iterable[list[tuple]]:
    for batch in batches:
        yield batch
        # After the batch is written: the rows counted are the rows in the file.
        on_batch(batches.row_count)


def export_artifact(
    artifact: Artifact,
    *,
    user: Any,
    raw_params: dict,
    export_format: str,
    timeout: float | None = None,
    interrupt: QueryInterrupt | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> ArtifactExport:
    """Validate the parameters and start exporting the artifact's full result as a file.

    `export_format` is a key of apps.datasources.exports.EXPORT_FORMATS. Bad or missing
    parameter values raise ValidationError({name: message}) and record nothing, as in
    run_artifact. The query starts here and its first batch is fetched before this
    returns, so a query that is refused or fails at once raises ExportFailed, with its
    recorded run, before a byte of the file exists; the caller can still answer with an
    error status. Rows go up to the data source's export cap, not the display cap.

    An export is one run of the artifact: it is recorded (and counted in the statistics)
    once, when the file is finished, fails part way or is abandoned; see ArtifactExport.

    A worker's export (tasks.export_artifact_in_background) passes its background
    `timeout` and an `interrupt`, and `on_batch(rows_so_far)` to report progress; an
    exception from on_batch (the job was cancelled) stops the export.
    """
    export = EXPORT_FORMATS[export_format]
    values = resolve_values(artifact.query_params, raw_params, data_source=artifact.data_source)
    started_at = timezone.now()
    clock = time.perf_counter()
    stack = ExitStack()
    try:
        _check_parameters(artifact)
        columns, batches = stack.enter_context(
            stream(
                artifact.data_source,
                artifact.sql_query,
                values,
                timeout=timeout,
                interrupt=interrupt,
            )
        )
    except QueryFailed as exc:
        stack.close()
        run = artifact.record_run(
            user=user,
            outcome=exc.outcome,
            started_at=started_at,
            params=values,
            duration_ms=round((time.perf_counter() - clock) * 1000, 3),
            error=exc.message,
            error_detail=exc.detail,
        )
        raise ExportFailed(run) from None
    return ArtifactExport(
        artifact,
        user=user,
        values=values,
        started_at=started_at,
        clock=clock,
        stack=stack,
        columns=columns,
        chunks=export.write(columns, _reporting(batches, on_batch) if on_batch else batches),
        batches=batches,
        filename=export_filename(artifact.title, export_format),
        content_type=export.content_type,
    )


class ArtifactExport:
    """An export under way: iterate it for the file's bytes, then close() it.

    It holds an open read-only connection until it ends. The run is recorded exactly once:
    - when the rows run out (outcome ok, with the row count and whether the export cap cut
      the result);
    - when a later batch fails (error or timeout). The QueryFailed is raised on, so the
      server aborts the response: a download cut short is visibly broken, never a
      shorter file that looks complete;
    - when close() comes first: the client went away (or never read the body). The query
      did not fail, so the outcome is ok, with the rows read so far and a note.
    Django's StreamingHttpResponse calls close() when it is done with the response.
    """

    def __init__(
        self,
        artifact: Artifact,
        *,
        user: Any,
        values: dict,
        started_at: dt.datetime,
        clock: float,
        stack: ExitStack,
        columns: list[ResultColumn],
        chunks: Iterator[bytes],
        batches: RowBatches,
        filename: str,
        content_type: str,
    ) -> None:
        self.artifact = artifact
        self.filename = filename
        self.content_type = content_type
        self.run: ArtifactRun | None = None
        self._user = user
        self._values = values
        self._started_at = started_at
        self._clock = clock
        self._stack = stack
        self._columns = columns
        self._writer = chunks
        self._batches = batches
        self._chunks: Iterator[bytes] | None = None
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        if self._chunks is None:
            self._chunks = self._generate()
        return self._chunks

    def _generate(self) -> Iterator[bytes]:
        outcome, error, error_detail = ArtifactRun.Outcome.OK, "", ""
        try:
            yield from self._writer
        except QueryFailed as exc:
            outcome, error, error_detail = exc.outcome, exc.message, exc.detail
            raise
        except GeneratorExit:
            error = self._stopped_message()
            raise
        except Exception as exc:
            outcome, error = ArtifactRun.Outcome.ERROR, f"The export failed: {exc}"
            raise
        finally:
            self._finish(outcome, error, error_detail)

    def close(self) -> None:
        if self._chunks is not None:
            # Runs the generator's cleanup: the XLSX writer deletes its temporary file.
            self._chunks.close()
        # A body never iterated has not started its generator, which then has nothing
        # to clean up: finish here.
        self._finish(ArtifactRun.Outcome.OK, self._stopped_message())

    def _stopped_message(self) -> str:
        rows = self._batches.row_count
        return f"The download stopped after {rows:,} row{'s' if rows != 1 else ''}."

    def _finish(self, outcome: str, error: str, error_detail: str = "") -> None:
        if self._finished:
            return
        self._finished = True
        # Let go of the data source before writing to the app's database.
        self._stack.close()
        self.run = self.artifact.record_run(
            user=self._user,
            outcome=outcome,
            started_at=self._started_at,
            params=self._values,
            duration_ms=round((time.perf_counter() - self._clock) * 1000, 3),
            row_count=self._batches.row_count,
            truncated=self._batches.truncated,
            error=error,
            error_detail=error_detail,
            # Known from the first batch, whatever happened after it.
            columns=self._columns if outcome == ArtifactRun.Outcome.OK else None,
        )


class TemplateInputError(Exception):
    """What is wrong with the input to use_template: `errors` maps "data_source", "sql" or a
    field of the new artifact to a list of messages, "slots" and "params" to {name: message}."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


def use_template(
    template: Artifact,
    *,
    user: Any,
    data_source: str,
    slot_values: Any,
    raw_params: Any,
    title: str = "",
    preview: bool = False,
) -> QueryResult | Artifact:
    """Fill `template`'s slots on `data_source` and either preview the result (recorded
    nowhere) or save a new private artifact owned by `user` that remembers its template.

    The caller has checked that `user` may see the template. Raises TemplateInputError for
    bad input, QueryFailed when the schema cannot be read or a preview is refused, fails or
    times out.
    """
    if not template.is_template:
        raise TemplateInputError({"template": ["This artifact is not a template."]})
    if not is_usable_source(user, data_source):
        # A source the user may not use is refused exactly like one that does not exist.
        raise TemplateInputError({"data_source": [unknown_source_message(user, data_source)]})
    source = get_data_source(data_source)
    if not isinstance(raw_params, dict):
        raise TemplateInputError({"params": {"": "Parameter values must be an object."}})
    try:
        filled = fill_slots(template.template_slots, source.name, slot_values)
    except ValidationError as exc:
        raise TemplateInputError({"slots": _first_messages(exc)}) from None
    try:
        sql = render(template.sql_query, filled, source)
    except SQLRejected as exc:
        raise TemplateInputError({"sql": [exc.message]}) from None
    try:
        if preview:
            return preview_sql(
                source.name, sql, declarations=template.query_params, raw_params=raw_params
            )
        values = resolve_values(template.query_params, raw_params, data_source=source.name)
    except ValidationError as exc:
        raise TemplateInputError({"params": _first_messages(exc)}) from None
    artifact = Artifact(
        title=(title or "").strip() or template.title,
        artifact_type=template.artifact_type,
        sql_query=sql,
        query_params=_with_defaults(template.query_params, raw_params, values),
        visualization_config=template.visualization_config,
        data_source=source.name,
        owner=user,
        description=template.description,
        question=template.question,
        template=template,
    )
    try:
        artifact.full_clean()
    except ValidationError as exc:
        raise TemplateInputError(exc.message_dict) from None
    artifact.save()
    return artifact


def _first_messages(exc: ValidationError) -> dict[str, str]:
    if not hasattr(exc, "error_dict"):
        return {"": exc.messages[0]}
    return {name: messages[0] for name, messages in exc.message_dict.items()}


def _with_defaults(declarations: list[dict], raw_params: dict, values: dict) -> list[dict]:
    """The template's declarations, with the values the user gave as the new defaults (a
    parameter left blank keeps the template's default, relative dates included)."""
    result = []
    for declaration in declarations:
        declaration = dict(declaration)
        name = declaration["name"]
        raw = raw_params.get(name)
        if raw not in (None, "") and values.get(name) is not None:
            relative = is_relative(declaration.get("type"), raw)
            declaration["default"] = raw.strip() if relative else values[name]
        result.append(declaration)
    return result
