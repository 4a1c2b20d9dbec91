"""The agent's tools, bound to one turn: the chat's owner and the agent's data source.

Every tool answers the model in text. Mistakes the model can fix (a rejected query, a
malformed artifact) come back as text that says what to fix, never as an exception, so the
model corrects itself within the turn. SQL runs through the same guard and read-only executor
as every other path to a data source.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext, gettext_noop, ngettext
from pydantic import BaseModel, Field
from pydantic_ai import RunContext, Tool, ToolReturn

from apps.datasources import executor, schema
from apps.datasources.access import EVERYTHING, Exposure
from apps.datasources.reads import NOT_AVAILABLE
from apps.llm_agent.models import Agent
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.charts import validate_visualization
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import is_relative, resolve_relative, resolve_values
from apps.llm_artifact.services import run_artifact as run_saved_artifact
from apps.llm_chat.agent.library import relevant_artifacts
from apps.llm_chat.models import Chat, Message

logger = logging.getLogger(__name__)

# Enough rows for the model to judge a result; more would only fill its context.
SQL_ROW_CAP = 20
CELL_MAX_CHARS = 80
# After this many failing run_sql calls in one turn the tool refuses and tells the model to stop.
MAX_FAILED_QUERIES = 5
SEARCH_LIMIT = 5
# describe_table's sample rows, and the most text it returns (a table of 300 columns).
DESCRIBE_SAMPLE_ROWS = 3
DESCRIBE_MAX_CHARS = 6000
# Retries for a tool call whose arguments do not validate (malformed JSON, wrong types).
TOOL_ARGUMENT_RETRIES = 2

# Tool argument names as the model knows them, for the model fields they fill.
ARG_FOR_FIELD = {
    "sql_query": "sql",
    "query_params": "params",
    "visualization_config": "visualization",
    "title": "title",
    "description": "description",
}


@dataclass
class ModelCallRecord:
    """One model request, filled in by the run's hooks and saved as a ModelCall."""

    started_at: dt.datetime
    started: float
    finished: float | None = None
    model_name: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: list[dict] = field(default_factory=list)
    error: str = ""


@dataclass
class TurnDeps:
    """What the tools may touch during one turn."""

    chat: Chat
    owner: Any  # the chat owner (a User)
    agent: Agent
    data_source: str
    dialect: str
    message: Message  # the assistant reply being written
    # What of the data source the tools may show and read (access.exposure_of), read once
    # for the turn: list_tables and describe_table show only that, and the SQL tools refuse
    # the rest through the guard.
    exposure: Exposure = EVERYTHING
    failed_queries: int = 0
    calls: list[ModelCallRecord] = field(default_factory=list)
    # The verified artifacts given as examples ({"id", "title"}), for the model-call log.
    examples: list[dict] = field(default_factory=list)


class ColumnRef(BaseModel):
    """A column of the data source."""

    table: str = Field(description="A table of the data source, as list_tables names it.")
    column: str = Field(description="One of its columns.")


class ParamDeclaration(BaseModel):
    """A typed parameter the SQL refers to as :name."""

    name: str = Field(description="Identifier used as :name in the SQL.")
    type: Literal["string", "integer", "number", "boolean", "date", "datetime"]
    label: str = Field("", description="What a person sees beside the input.")
    default: str | int | float | bool | None = Field(
        None,
        description=(
            "Value used when the user gives none. A date or datetime may default to a "
            "relative date, evaluated on the day the artifact runs: today, yesterday, "
            "start_of_week, start_of_month, start_of_quarter or start_of_year, optionally "
            "followed by offsets such as -7 days, +1 week, -1 month, -2 quarters, -1 year. "
            'Last month is "start_of_month -1 month" to "start_of_month"; the last 7 days '
            'are "-7 days" to "today". Prefer these to fixed dates.'
        ),
    )
    required: bool = False
    choices: list[str] | None = Field(
        None,
        description=(
            'For type "string" with a fixed set of values (a status, a country): the values '
            "allowed. The default must be one of them."
        ),
    )
    choices_from: ColumnRef | None = Field(
        None,
        description=(
            'For type "string" whose allowed values are those found in a column of the data '
            "source (a status, a category name): the table and column to read them from, "
            "instead of choices. Both must exist; the default must be one of its values."
        ),
    )

    def as_declaration(self) -> dict:
        declaration = self.model_dump()
        for key in ("default", "choices", "choices_from"):
            if declaration[key] is None:
                del declaration[key]
        return declaration


async def list_tables(ctx: RunContext[TurnDeps]) -> str:
    """List the tables of the data source with their columns and types."""
    try:
        tables = await sync_to_async(schema.list_tables, thread_sensitive=False)(
            ctx.deps.data_source, exposure=ctx.deps.exposure
        )
    except executor.QueryFailed as exc:
        # The public message only: what the model reads, the user reads.
        return exc.message
    except LookupError as exc:
        return _source_unavailable(ctx.deps, exc)
    if not tables:
        return "The data source has no tables."
    lines = [
        f"{table.name}({', '.join(f'{c.name} {c.type}' for c in table.columns)})"
        for table in tables
    ]
    return "\n".join(lines)


async def describe_table(ctx: RunContext[TurnDeps], name: str) -> str:
    """Show one table: its columns (name, type, whether it may be NULL), what it joins to
    (foreign keys), roughly how many rows it has, and a few sample rows.

    Args:
        name: The table name, as list_tables shows it.
    """
    try:
        table = await sync_to_async(schema.describe_table, thread_sensitive=False)(
            ctx.deps.data_source, name, exposure=ctx.deps.exposure
        )
    except executor.QueryFailed as exc:
        return exc.message  # the public message only, as in list_tables
    except LookupError:
        tables = await sync_to_async(schema.list_tables, thread_sensitive=False)(
            ctx.deps.data_source, exposure=ctx.deps.exposure
        )
        known = ", ".join(t.name for t in tables) or "none"
        # A hidden table and a missing one read the same: nothing says the first exists.
        return (
            f"The table `{name}` is {NOT_AVAILABLE}: there is no table named {name!r} among "
            f"the tables you may read. Tables: {known}. {SAY_NOT_AVAILABLE}"
        )
    sample = await sync_to_async(schema.sample_rows, thread_sensitive=False)(
        ctx.deps.data_source, table, DESCRIBE_SAMPLE_ROWS, exposure=ctx.deps.exposure
    )
    return format_table(table, sample)


def format_table(table: schema.TableInfo, sample: schema.SampleRows) -> str:
    """Compact text for the model: the columns with their joins, then sample rows, bounded
    to DESCRIBE_MAX_CHARS so a very wide table cannot flood the context."""
    count = table.approx_rows
    rows = "rows unknown" if count is None else f"about {count:,} row{'' if count == 1 else 's'}"
    kind = "View" if table.is_view else "Table"
    lines = [f"{kind} {table.name} ({rows}):"]
    for column in table.columns:
        key = table.foreign_key_for(column.name)
        joins = f" -> {key.referenced_table}.{key.referenced_columns[0]}" if key else ""
        lines.append(
            f"- {column.name} {column.type}{'' if column.nullable else ' NOT NULL'}{joins}"
        )
    for key in table.foreign_keys:
        if len(key.columns) > 1:
            lines.append(
                f"- ({', '.join(key.columns)}) -> "
                f"{key.referenced_table}({', '.join(key.referenced_columns)})"
            )
    if sample.error:
        lines.append(f"Sample rows: not available ({sample.error})")
    elif not sample.rows:
        lines.append("Sample rows: none, the table is empty.")
    else:
        lines.append(f"Sample rows (first {len(sample.rows)}, in no particular order):")
        lines.append(" | ".join(sample.columns))
        lines.extend(" | ".join(_cell(value) for value in row) for row in sample.rows)
    text = "\n".join(lines)
    if len(text) > DESCRIBE_MAX_CHARS:
        text = text[: DESCRIBE_MAX_CHARS - 1] + "…\n(cut short: the table is wide)"
    return text


async def run_sql(
    ctx: RunContext[TurnDeps], sql: str, params: dict[str, Any] | None = None
) -> ToolReturn:
    """Run one read-only SQL query and see its first rows.

    Use it to check a query before saving it. Statements that write are refused.

    Args:
        sql: One SELECT (or WITH ... SELECT) statement in the data source's dialect.
        params: Values for :name parameters used in the SQL, if any.
    """
    deps = ctx.deps
    if deps.failed_queries >= MAX_FAILED_QUERIES:
        return ToolReturn(
            return_value=(
                f"Stop: {deps.failed_queries} queries failed in this turn, so no more SQL will "
                "run. Do not call run_sql again; tell the user what went wrong and what you tried."
            ),
            metadata={
                "ok": False,
                "activity": _in(deps, gettext_noop("Stopped running SQL after repeated failures")),
            },
        )
    try:
        result = await sync_to_async(executor.execute, thread_sensitive=False)(
            deps.data_source, sql, params or None, max_rows=SQL_ROW_CAP, exposure=deps.exposure
        )
    except executor.QueryFailed as exc:
        deps.failed_queries += 1
        left = MAX_FAILED_QUERIES - deps.failed_queries
        what = {"rejected": "was refused", "timeout": "timed out"}.get(exc.outcome, "failed")
        advice = (
            SAY_NOT_AVAILABLE
            if NOT_AVAILABLE in exc.message
            else f"Fix the SQL and try again ({left} more failures allowed in this turn)."
        )
        return ToolReturn(
            return_value=f"The query {what}: {exc.message}\n{advice}",
            metadata={"ok": False, "activity": _in(deps, SQL_FAILED[exc.outcome])},
        )
    except LookupError as exc:  # the agent's data source is not configured
        return ToolReturn(return_value=_source_unavailable(deps, exc), metadata={"ok": False})
    return ToolReturn(
        return_value=format_result(result),
        metadata={"ok": True, "activity": _ran_sql(deps, result)},
    )


# What the model is told when it reaches for data the source does not expose.
SAY_NOT_AVAILABLE = (
    "This data is not available to you in this data source: say so to the user, and do not "
    "try to reach it another way (another table, a view or the system catalogs)."
)


def _source_unavailable(deps: TurnDeps, exc: LookupError) -> str:
    """What the model may repeat to the user: plain words. Why the source is missing is set-up
    detail (the configured names, DATA_SOURCES) for operators, in the server log."""
    logger.warning("Agent %s: data source unavailable: %s", deps.agent.name, exc)
    return (
        "The data source is not available right now. Tell the user, and suggest they ask an "
        "operator if it keeps happening."
    )


# The activity line of a failed run_sql, by the executor's outcome.
SQL_FAILED = defaultdict(
    lambda: gettext_noop("SQL failed"),
    rejected=gettext_noop("SQL was refused"),
    timeout=gettext_noop("SQL timed out"),
)


def _in(deps: TurnDeps, text: str) -> str:
    """`text` (marked with gettext_noop) in the chat's language, for the activity lines."""
    with translation.override(deps.chat.language):
        return gettext(text)


def _out_of_reach_activity(deps: TurnDeps, artifact_id: object) -> str:
    return _in(deps, gettext_noop("Artifact #%(id)s is out of reach")) % {"id": artifact_id}


CHART_NOT_SAVED = gettext_noop("Chart not saved (invalid)")
CHART_SET = gettext_noop("Set the chart of “%(title)s”")
CHART_REMOVED = gettext_noop("Removed the chart of “%(title)s”")


def _ran_sql(deps: TurnDeps, result: executor.QueryResult) -> str:
    with translation.override(deps.chat.language):
        if result.truncated:
            return gettext("Ran SQL (first %(n)s rows)") % {"n": len(result.rows)}
        return ngettext("Ran SQL (%(n)s row)", "Ran SQL (%(n)s rows)", result.row_count) % {
            "n": result.row_count
        }


def format_result(result: executor.QueryResult, limit: int | None = None) -> str:
    """Compact text for the model: a header, pipe-separated rows, and whether rows are missing."""
    header = " | ".join(f"{c.name} ({c.type})" for c in result.columns)
    lines = [header]
    rows = result.rows if limit is None else result.rows[:limit]
    lines.extend(" | ".join(_cell(value) for value in row) for row in rows)
    if result.truncated or len(rows) < len(result.rows):
        lines.append(f"(showing the first {len(rows)} rows; the query returns more)")
    else:
        lines.append(f"({result.row_count} row{'' if result.row_count == 1 else 's'})")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float | Decimal):
        text = f"{value:.6g}" if abs(value) < 1e15 else str(value)
    else:
        text = str(value)
    text = text.replace("\n", " ").replace("|", "/")
    return text if len(text) <= CELL_MAX_CHARS else text[: CELL_MAX_CHARS - 1] + "…"


def _validation_feedback(tool: str, error: ValidationError) -> str:
    lines = []
    for field_name, messages in error.message_dict.items():
        arg = ARG_FOR_FIELD.get(field_name, field_name)
        for message in messages:
            lines.append(f"- {arg}: {message}" if arg != "__all__" else f"- {message}")
    return f"Nothing was saved. Fix these and call {tool} again:\n" + "\n".join(lines)


def _artifact_summary(artifact: Artifact, verb: str) -> str:
    return (
        f"{verb} artifact #{artifact.pk} “{artifact.title}”. It appears as a card in the chat; "
        f"use update_artifact with artifact_id={artifact.pk} to change it."
    )


def _save_new_artifact(deps: TurnDeps, values: dict) -> Artifact | ValidationError:
    artifact = Artifact(
        owner=deps.owner,
        chat=deps.chat,
        agent=deps.agent,
        data_source=deps.data_source,
        **values,
    )
    try:
        artifact.full_clean()
    except ValidationError as exc:
        return exc
    with transaction.atomic():
        artifact.save()
        deps.message.link_artifact(artifact, Message.ArtifactAction.CREATED)
    return artifact


async def save_artifact(
    ctx: RunContext[TurnDeps],
    title: str,
    sql: str,
    description: str = "",
    params: list[ParamDeclaration] | None = None,
    visualization: dict[str, Any] | None = None,
) -> ToolReturn:
    """Save a query that answers the question as an artifact the user can run again.

    Call it once the query works (check it with run_sql first).

    Args:
        title: Short name for the query, e.g. "Top 5 categories by revenue last month".
        sql: The query. Write values a user may want to change as :name parameters.
        description: One or two sentences on what the query answers.
        params: Declarations of the :name parameters the SQL uses. Dates may default to
            relative dates ("start_of_month -1 month"), and a text parameter may take its
            allowed values from a column (choices_from).
        visualization: A Vega-Lite spec whose data is {"name": "results"}, or {} for table only.
    """
    values = {
        "title": title.strip(),
        "sql_query": sql.strip(),
        "description": description.strip(),
        "query_params": [p.as_declaration() for p in params or []],
        "visualization_config": visualization if visualization is not None else {},
    }
    outcome = await sync_to_async(_save_new_artifact)(ctx.deps, values)
    return _written_reply(
        "save_artifact", outcome, Message.ArtifactAction.CREATED, "Saved", ctx.deps
    )


def _written_reply(
    tool: str,
    outcome: Artifact | ValidationError,
    action: Message.ArtifactAction,
    verb: str,
    deps: TurnDeps,
) -> ToolReturn:
    """What save_artifact and update_artifact answer after trying to write: the validation
    errors to fix, or the artifact as it now is (`verb` is "Saved" or "Updated")."""
    with translation.override(deps.chat.language):
        if verb == "Saved":
            invalid = gettext("Artifact not saved (invalid)")
        else:
            invalid = gettext("Artifact not updated (invalid)")
        if isinstance(outcome, Artifact):
            template = (
                gettext("Saved artifact “%(title)s”")
                if verb == "Saved"
                else gettext("Updated artifact “%(title)s”")
            )
            written = template % {"title": outcome.title}
    if isinstance(outcome, ValidationError):
        feedback = _validation_feedback(tool, outcome)
        if NOT_AVAILABLE in feedback:
            feedback += f"\n{SAY_NOT_AVAILABLE}"
        return ToolReturn(
            return_value=feedback,
            metadata={"ok": False, "activity": invalid},
        )
    return ToolReturn(
        return_value=_artifact_summary(outcome, verb),
        metadata={
            "ok": True,
            "activity": written,
            "artifact_id": outcome.pk,
            "action": action.value,
            "title": outcome.title,
        },
    )


def _artifact_in_reach(deps: TurnDeps, artifact_id: int) -> Artifact | None:
    # The artifacts this chat made, and the one it was opened about when the chat's owner
    # may edit it (asked now, at write time): on the agent's data source only.
    in_reach = Q(chat=deps.chat)
    if deps.chat.subject_artifact_id == artifact_id:
        in_reach |= Q(pk__in=Artifact.objects.editable_by(deps.owner).values("pk"))
    # The SQL tools change SQL artifacts only (a dashboard has its own tools).
    sql_types = artifact_types.sql_names()
    return (
        Artifact.objects.filter(
            in_reach, pk=artifact_id, data_source=deps.data_source, artifact_type__in=sql_types
        )
        .order_by()
        .first()
    )


def _out_of_reach(artifact_id: int) -> str:
    return (
        f"Artifact #{artifact_id} is out of reach: you can only update artifacts saved in "
        "this chat (or the one it is about, when the user may edit it). Use save_artifact "
        "to save a new one instead."
    )


def _update_artifact(
    deps: TurnDeps, artifact_id: int, values: dict
) -> Artifact | str | ValidationError:
    artifact = _artifact_in_reach(deps, artifact_id)
    if artifact is None:
        return _out_of_reach(artifact_id)
    for name, value in values.items():
        setattr(artifact, name, value)
    try:
        artifact.full_clean()
    except ValidationError as exc:
        return exc
    with transaction.atomic():
        artifact.save(update_fields=[*values, "updated_at"])
        deps.message.link_artifact(artifact, Message.ArtifactAction.UPDATED)
    return artifact


async def update_artifact(
    ctx: RunContext[TurnDeps],
    artifact_id: int,
    title: str | None = None,
    sql: str | None = None,
    description: str | None = None,
    params: list[ParamDeclaration] | None = None,
    visualization: dict[str, Any] | None = None,
) -> ToolReturn:
    """Change an artifact saved earlier in this chat, or the artifact the chat is about (when
    the instructions say you may). Give only the fields to change.

    Args:
        artifact_id: The id save_artifact reported.
        title: New title.
        sql: New SQL.
        description: New description.
        params: New parameter declarations (replace the old ones); relative date defaults
            and choices_from as in save_artifact.
        visualization: New Vega-Lite spec ({} for table only).
    """
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = title.strip()
    if sql is not None:
        values["sql_query"] = sql.strip()
    if description is not None:
        values["description"] = description.strip()
    if params is not None:
        values["query_params"] = [p.as_declaration() for p in params]
    if visualization is not None:
        values["visualization_config"] = visualization
    if not values:
        return ToolReturn(
            return_value="Nothing to change: give at least one field to update.",
            metadata={"ok": False},
        )
    outcome = await sync_to_async(_update_artifact)(ctx.deps, artifact_id, values)
    if isinstance(outcome, str):
        return ToolReturn(
            return_value=outcome,
            metadata={"ok": False, "activity": _out_of_reach_activity(ctx.deps, artifact_id)},
        )
    return _written_reply(
        "update_artifact", outcome, Message.ArtifactAction.UPDATED, "Updated", ctx.deps
    )


def _result_column_names(artifact: Artifact) -> list[str] | None:
    """The columns a chart of the artifact can draw, or None when they cannot be known.

    From its latest good run of the current SQL; failing that, the SQL runs once here with
    the parameters' defaults (read-only, one row, not recorded as a run of the artifact).
    """
    names = artifact.last_result_column_names()
    if names is not None:
        return names
    try:
        values = resolve_values(artifact.query_params, {}, data_source=artifact.data_source)
    except ValidationError:
        return None  # a required parameter has no default: nothing to run with
    try:
        result = executor.execute(
            artifact.data_source, artifact.sql_query, values or None, max_rows=1
        )
    except (executor.QueryFailed, LookupError):
        return None
    return [column.name for column in result.columns]


@dataclass(frozen=True)
class ChartRefused:
    """The spec has errors: nothing was saved."""

    problems: list[dict]
    columns: list[str] | None


def _set_visualization(
    deps: TurnDeps, artifact_id: int, spec: dict
) -> Artifact | str | ValidationError | ChartRefused:
    artifact = _artifact_in_reach(deps, artifact_id)
    if artifact is None:
        return _out_of_reach(artifact_id)
    columns = _result_column_names(artifact)
    errors = [p for p in validate_visualization(spec, columns=columns) if p.is_error]
    if errors:
        return ChartRefused([p.as_dict() for p in errors], columns)
    # The same path as update_artifact: the model's checks, then the message's link.
    return _update_artifact(deps, artifact_id, {"visualization_config": spec})


async def set_visualization(
    ctx: RunContext[TurnDeps], artifact_id: int, spec: dict[str, Any]
) -> ToolReturn:
    """Give an artifact saved in this chat a chart, checked against its result's columns.

    If the spec has problems nothing is saved and you get them back with their paths in the
    spec: fix them and call set_visualization again.

    Args:
        artifact_id: The id save_artifact reported.
        spec: A Vega-Lite spec whose data is {"name": "results"} (the query's rows), e.g.
            {"data": {"name": "results"}, "mark": "bar", "encoding": {"x": {"field":
            "category", "type": "nominal"}, "y": {"field": "revenue", "type":
            "quantitative"}}}. Fields must be result column names. {} removes the chart.
    """
    outcome = await sync_to_async(_set_visualization)(ctx.deps, artifact_id, spec)
    if isinstance(outcome, str):
        return ToolReturn(
            return_value=outcome,
            metadata={"ok": False, "activity": _out_of_reach_activity(ctx.deps, artifact_id)},
        )
    if isinstance(outcome, ChartRefused):
        columns = ", ".join(outcome.columns) if outcome.columns is not None else "unknown"
        return ToolReturn(
            return_value=(
                "The chart was not saved. Fix these problems and call set_visualization "
                f"again (the result's columns: {columns}):\n"
                + json.dumps(outcome.problems, ensure_ascii=False, indent=1)
            ),
            metadata={"ok": False, "activity": _in(ctx.deps, CHART_NOT_SAVED)},
        )
    if isinstance(outcome, ValidationError):
        return ToolReturn(
            return_value=_validation_feedback("set_visualization", outcome),
            metadata={"ok": False, "activity": _in(ctx.deps, CHART_NOT_SAVED)},
        )
    verb = "Set the chart of" if spec else "Removed the chart of"
    return ToolReturn(
        return_value=(
            f"{verb} artifact #{outcome.pk} “{outcome.title}”; its card in the chat draws it."
            if spec
            else f"{verb} artifact #{outcome.pk} “{outcome.title}”: it shows as a table."
        ),
        metadata={
            "ok": True,
            "activity": _in(ctx.deps, CHART_SET if spec else CHART_REMOVED)
            % {"title": outcome.title},
            "artifact_id": outcome.pk,
            "action": Message.ArtifactAction.UPDATED.value,
            "title": outcome.title,
        },
    )


def _search(deps: TurnDeps, query: str) -> list[Artifact]:
    return relevant_artifacts(deps.owner, deps.data_source, query, limit=SEARCH_LIMIT)


async def search_artifacts(ctx: RunContext[TurnDeps], query: str) -> str:
    """Find saved queries (artifacts) on this data source that match the question, best
    match first. Verified ones were checked by a person and say which question they answer.

    When one already answers the user's question, run it with run_artifact (its id, and
    values for its parameters) instead of writing and saving a new query; otherwise use them
    as examples of the tables, joins and conventions to follow.

    Args:
        query: The question, or a few words from it, e.g. "revenue by category".
    """
    artifacts = await sync_to_async(_search)(ctx.deps, query)
    if not artifacts:
        return "No saved queries match."
    blocks = []
    for artifact in artifacts:
        mark = " [verified]" if artifact.is_verified else ""
        block = f"#{artifact.pk} {artifact.title}{mark}"
        if artifact.is_verified and artifact.question:
            block += f"\nAnswers: {artifact.question}"
        if artifact.description:
            block += f"\n{artifact.description}"
        if artifact.query_params:
            block += "\nParameters (run_artifact takes values for them): " + "; ".join(
                parameter_text(d) for d in artifact.query_params if isinstance(d, dict)
            )
        block += f"\nSQL:\n{artifact.sql_query}"
        blocks.append(block)
    return "\n\n".join(blocks)


def _run_artifact(deps: TurnDeps, artifact_id: int, params: dict[str, Any]) -> str | ToolReturn:
    # Any artifact the chat's owner may see on the agent's data source, as search_artifacts.
    artifact = (
        Artifact.objects.visible_to(deps.owner)
        .filter(
            pk=artifact_id,
            data_source=deps.data_source,
            artifact_type__in=artifact_types.sql_names(),
        )
        .first()
    )
    if artifact is None:
        return (
            f"There is no artifact #{artifact_id} on this data source. "
            "Use search_artifacts to find one."
        )
    try:
        run, result = run_saved_artifact(artifact, user=deps.owner, raw_params=params)
    except ValidationError as exc:
        problems = "\n".join(
            f"- {message}" for messages in exc.message_dict.values() for message in messages
        )
        return f"Nothing ran. Fix these values and call run_artifact again:\n{problems}"
    # The card in the reply shows these values and runs with them.
    deps.message.link_artifact(artifact, Message.ArtifactAction.EXECUTED, params=run.params)
    shown = ", ".join(f"{name}={value!r}" for name, value in run.params.items()) or "none"
    if result is None:
        text = f"Artifact #{artifact.pk} “{artifact.title}” failed ({shown}): {run.error}"
        if NOT_AVAILABLE in run.error:
            text += f"\n{SAY_NOT_AVAILABLE}"
    else:
        text = (
            f"Ran artifact #{artifact.pk} “{artifact.title}” with {shown}. "
            "Its card in the chat shows these values:\n" + format_result(result, SQL_ROW_CAP)
        )
    return ToolReturn(
        return_value=text,
        metadata={
            "ok": result is not None,
            "activity": _in(deps, gettext_noop("Ran “%(title)s”")) % {"title": artifact.title},
            "artifact_id": artifact.pk,
            "action": Message.ArtifactAction.EXECUTED.value,
            "title": artifact.title,
        },
    )


async def run_artifact(
    ctx: RunContext[TurnDeps], artifact_id: int, params: dict[str, Any] | None = None
) -> ToolReturn:
    """Run a saved artifact with parameter values, e.g. when the user asks for the same
    query with other values ("and the cancelled ones?", "and the month before?").

    The run is recorded, and the artifact's card in your reply runs with these values.

    Args:
        artifact_id: The artifact's id (from search_artifacts or an earlier save_artifact).
        params: Values for its parameters by name; parameters left out take their defaults.
            Dates may be given as YYYY-MM-DD or as relative dates such as
            "start_of_month -1 month" or "today -7 days"; the run records the dates they
            mean today.
    """
    outcome = await sync_to_async(_run_artifact)(ctx.deps, artifact_id, params or {})
    if isinstance(outcome, str):
        return ToolReturn(
            return_value=outcome,
            metadata={
                "ok": False,
                "activity": _in(ctx.deps, gettext_noop("Artifact #%(id)s did not run"))
                % {"id": artifact_id},
            },
        )
    return outcome


def parameter_text(declaration: dict) -> str:
    """A declaration as the model reads it: "since (date, default start_of_month (= ...))"."""
    text = f"{declaration.get('name')} ({declaration.get('type')}"
    if isinstance(declaration.get("choices"), list):
        text += ", one of " + ", ".join(str(choice) for choice in declaration["choices"])
    choices_from = declaration.get("choices_from")
    if isinstance(choices_from, dict):
        text += f", one of the values of {choices_from.get('table')}.{choices_from.get('column')}"
    default = declaration.get("default")
    if default is not None:
        text += f", default {default}"
        if is_relative(declaration.get("type"), default):
            try:
                today = resolve_relative(declaration["type"], default)
            except ValueError:
                pass
            else:
                text += f" (= {today} today)"
    return text + ")"


# The tools that read the library: left out of a turn run without it (run_turn(library=False)).
LIBRARY_TOOLS = frozenset({"search_artifacts", "run_artifact"})

# Each artifact type's writing tools (apps/llm_artifact/types: ArtifactTypeSpec.agent_tools
# names them by dotted path, as a foreign key up a layer names its model by label).
SAVE_ARTIFACT = Tool(save_artifact, takes_ctx=True, sequential=True)
UPDATE_ARTIFACT = Tool(update_artifact, takes_ctx=True, sequential=True)
SET_VISUALIZATION = Tool(set_visualization, takes_ctx=True, sequential=True)

# The tools every turn has, whatever the types.
COMMON_TOOLS = [
    Tool(list_tables, takes_ctx=True),
    Tool(describe_table, takes_ctx=True),
    Tool(run_sql, takes_ctx=True),
    Tool(search_artifacts, takes_ctx=True),
    # Writes run one at a time so two calls in one response cannot race on the message's link.
    Tool(run_artifact, takes_ctx=True, sequential=True),
]


@functools.cache
def turn_tools() -> list[Tool]:
    """The tools of a turn: the common ones, then each registered type's, in the registry's
    order. Built on first use: a type's tools may live in a module that imports this one."""
    typed = [
        import_string(path) for spec in artifact_types.all_types() for path in spec.agent_tools
    ]
    return [*COMMON_TOOLS[:4], *typed, *COMMON_TOOLS[4:]]


def started_label(tool: str, args: dict) -> str:
    """What a person sees while a tool runs."""
    if tool == "list_tables":
        return gettext("Listing tables")
    if tool == "describe_table":
        return gettext("Looking at table %(name)s") % {"name": args.get("name") or "…"}
    if tool == "run_sql":
        return gettext("Running SQL")
    if tool == "search_artifacts":
        return gettext("Searching saved queries")
    if tool == "save_artifact":
        return gettext("Saving artifact “%(title)s”") % {"title": args.get("title") or "…"}
    artifact_id = args.get("artifact_id") or "…"
    if tool == "update_artifact":
        return gettext("Updating artifact #%(id)s") % {"id": artifact_id}
    if tool == "set_visualization":
        return gettext("Charting artifact #%(id)s") % {"id": artifact_id}
    if tool == "run_artifact":
        return gettext("Running artifact #%(id)s") % {"id": artifact_id}
    if tool == "save_dashboard":
        return gettext("Saving dashboard “%(title)s”") % {"title": args.get("title") or "…"}
    if tool == "update_dashboard":
        return gettext("Updating dashboard #%(id)s") % {"id": args.get("dashboard_id") or "…"}
    return gettext("Calling %(tool)s") % {"tool": tool}
