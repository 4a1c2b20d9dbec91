"""A report's Markdown turned into HTML with its blocks and values filled in, for one viewer.

The text goes through the chat's renderer (apps/core/markdown.py: markdown-it with raw HTML
off, then the nh3 allow-list), so a report is exactly as safe as a chat reply. The blocks
and values are drawn by us after that, in place of the placeholder words parse_report()
left, from templates that escape everything they show.

What a viewer sees of each reference:
- an artifact they may not see (or that does not exist, or is not an SQL artifact) is a note
  saying it is hidden, with nothing about it (not even its title);
- otherwise the latest good run of the artifact as it is now (same SQL, same data source)
  with exactly the block's parameter values, from the rows the run kept (its snapshot, the
  first 100 rows): a chart drawn on the server as SVG, a table, or one cell;
- no such run yet: a note asking for a re-run (rerun_report() runs them).

Opening a report reads two queries whatever the number of blocks: the artifacts the viewer
may see among those named, and their kept good runs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from apps.core.markdown import render_markdown
from apps.datasources.executor import QueryResult, ResultColumn
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.charts import ChartRenderError, render_chart
from apps.llm_artifact.models import Artifact, ArtifactRun, sql_digest
from apps.llm_artifact.parameters import resolve_values
from apps.llm_artifact.reports.blocks import BlockRef, ParsedReport, parse_report
from apps.llm_artifact.services import run_artifact
from apps.llm_artifact.templatetags.artifacts import number

CHART_WIDTH = 640
CHART_HEIGHT = 300


@dataclass
class Shown:
    """What one reference shows to this viewer."""

    ref: BlockRef
    # None when hidden from the viewer (or not there).
    artifact: Artifact | None = None
    values: dict | None = None
    run: ArtifactRun | None = None
    # Why the block shows no result (bad parameter values, not run yet, no such column).
    problem: str = ""

    @property
    def hidden(self) -> bool:
        return self.artifact is None

    @property
    def result(self) -> QueryResult | None:
        if self.run is None:
            return None
        columns = [ResultColumn(str(c["name"]), str(c["type"])) for c in self.run.columns or []]
        rows = [tuple(row) for row in self.run.snapshot or []]
        return QueryResult(columns, rows, self.run.row_count, self.run.truncated, 0)


@dataclass
class RenderedReport:
    html: SafeString
    shown: list[Shown]
    problems: list[str]

    @property
    def hidden_count(self) -> int:
        return sum(1 for item in self.shown if item.hidden)

    @property
    def not_run_count(self) -> int:
        return sum(1 for item in self.shown if not item.hidden and item.run is None)


def referenced_artifacts(parsed: ParsedReport, user: Any) -> dict[int | str, Artifact]:
    """The SQL artifacts the report names that `user` may see (one query), by id and by
    uid: look them up with artifact_key()."""
    if not parsed.refs:
        return {}
    found = (
        Artifact.objects.visible_to(user)
        .filter(artifact_type__in=artifact_types.sql_names())
        .filter(Q(pk__in=parsed.artifact_ids) | Q(uid__in=parsed.artifact_uids))
    )
    return {key: a for a in found for key in (a.pk, str(a.uid))}


def artifact_key(ref: BlockRef) -> int | str:
    return ref.uid or ref.artifact_id


def resolve(parsed: ParsedReport, user: Any) -> list[Shown]:
    """Each reference with the artifact, values and latest matching run the viewer gets."""
    artifacts = referenced_artifacts(parsed, user)
    runs = _kept_runs({a.pk: a for a in artifacts.values()}.values())
    shown = []
    for ref in parsed.refs:
        artifact = artifacts.get(artifact_key(ref))
        if artifact is None:
            shown.append(Shown(ref))
            continue
        try:
            values = resolve_values(artifact.query_params, ref.params)
        except ValidationError as exc:
            shown.append(Shown(ref, artifact, problem=_parameter_problem(exc)))
            continue
        run = next((run for run in runs.get(artifact.pk, []) if run.params == values), None)
        shown.append(Shown(ref, artifact, values, run))
    return shown


def _kept_runs(artifacts: Any) -> dict[int, list[ArtifactRun]]:
    """The good runs with kept rows of each artifact as it is now, the latest first."""
    artifacts = list(artifacts)
    if not artifacts:
        return {}
    current = {a.pk: (a.data_source, sql_digest(a.sql_query)) for a in artifacts}
    runs: dict[int, list[ArtifactRun]] = {pk: [] for pk in current}
    candidates = ArtifactRun.objects.filter(
        artifact_id__in=list(current), outcome=ArtifactRun.Outcome.OK, snapshot__isnull=False
    ).order_by("-started_at", "-id")
    for run in candidates:
        if (run.data_source, run.sql_digest) == current[run.artifact_id]:
            runs[run.artifact_id].append(run)
    return runs


def _parameter_problem(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(
            f":{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def render_report(markdown: str, user: Any, *, absolute: str = "") -> RenderedReport:
    """The report as HTML for `user`. `absolute` (a site root such as https://host) makes
    the links to artifacts absolute, for an exported file."""
    parsed = parse_report(markdown)
    shown = resolve(parsed, user)
    by_ref = iter(shown)
    html = str(render_markdown(parsed.text))
    for word, slot in parsed.slots.items():
        if isinstance(slot, str):
            html = html.replace(word, _problem_html(slot))
            continue
        piece = _piece(next(by_ref), absolute)
        if slot.kind == "block":
            # A block alone on its line became a paragraph of its own: replace the paragraph.
            html = html.replace(f"<p>{word}</p>", piece)
        html = html.replace(word, piece)
    # Safe: the Markdown went through nh3, every piece is built by escaping templates.
    return RenderedReport(mark_safe(html), shown, parsed.problems)


def _problem_html(problem: str) -> str:
    return format_html('<span class="report-problem text-danger">{}</span>', problem)


def _piece(item: Shown, absolute: str) -> str:
    if item.ref.kind == "value":
        return _value_html(item)
    return render_to_string("llm_artifact/report/_block.html", _block_context(item, absolute))


def _value_html(item: Shown) -> str:
    if item.hidden:
        return format_html(
            '<span class="report-hidden" title="{}">[{}]</span>',
            _("This value comes from an artifact you may not see."),
            _("hidden"),
        )
    value, problem = cell_value(item)
    if problem:
        return format_html(
            '<span class="report-missing text-body-secondary" title="{}">[{}]</span>',
            problem,
            _("no value"),
        )
    return format_html(
        '<span class="report-value fw-semibold" title="{}">{}</span>', item.artifact.title, value
    )


def cell_value(item: Shown) -> tuple[str, str]:
    """The inline value's text as shown, or "" and why there is none."""
    if item.problem:
        return "", item.problem
    result = item.result
    if result is None:
        return "", _("Not run with these values yet: re-run the report.")
    names = [column.name for column in result.columns]
    column = item.ref.column or (names[0] if names else "")
    if column not in names:
        return "", _("The result has no column “%(column)s” (columns: %(names)s).") % {
            "column": column,
            "names": ", ".join(names),
        }
    if item.ref.row > len(result.rows):
        return "", _("The result has no row %(row)s.") % {"row": item.ref.row}
    value = result.rows[item.ref.row - 1][names.index(column)]
    if value is None:
        return "NULL", ""
    return number(value, column, item.ref.digits), ""


def _block_context(item: Shown, absolute: str) -> dict:
    context: dict[str, Any] = {"item": item, "ref": item.ref}
    if item.hidden or item.problem or item.run is None:
        return context
    artifact, result = item.artifact, item.result
    context["url"] = absolute + artifact.get_absolute_url()
    show = item.ref.show or ("chart" if artifact.visualization_config else "table")
    if show == "chart" and artifact.visualization_config and result.rows:
        try:
            svg = render_chart(
                artifact.visualization_config,
                result.columns,
                result.rows,
                width=CHART_WIDTH,
                height=CHART_HEIGHT,
                truncated=result.truncated or result.row_count > len(result.rows),
            )
        except ChartRenderError as exc:
            context["chart_error"] = exc.message
        else:
            context["chart_src"] = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
            context["chart_width"], context["chart_height"] = CHART_WIDTH, CHART_HEIGHT
            return context
    elif show == "chart" and not artifact.visualization_config:
        context["chart_error"] = _("This artifact has no chart; its rows are shown instead.")
    context["table"] = _table(result, item.ref.rows)
    return context


@dataclass
class BlockTable:
    columns: list[ResultColumn]
    rows: list
    row_count: int
    truncated: bool

    @property
    def cut(self) -> bool:
        return len(self.rows) < self.row_count or self.truncated


def _table(result: QueryResult, limit: int) -> BlockTable:
    return BlockTable(result.columns, list(result.rows[:limit]), result.row_count, result.truncated)


@dataclass
class RerunOutcome:
    runs: int
    problems: list[str]


def rerun_report(markdown: str, user: Any) -> RerunOutcome:
    """Run every artifact the report shows `user`, once for each set of parameter values,
    through the artifact's own run (guard, read-only executor, recorded run): the report
    then opens on these results. Artifacts hidden from `user` are not run."""
    parsed = parse_report(markdown)
    artifacts = referenced_artifacts(parsed, user)
    done: set[tuple[int, str]] = set()
    problems: list[str] = []
    runs = 0
    for ref in parsed.refs:
        artifact = artifacts.get(artifact_key(ref))
        if artifact is None:
            continue
        try:
            # Once for each set of values as they resolve: a default written out or left
            # out is the same run.
            values = resolve_values(artifact.query_params, ref.params)
            key = (artifact.pk, json.dumps(values, sort_keys=True, default=str))
            if key in done:
                continue
            done.add(key)
            outcome = run_artifact(artifact, user=user, raw_params=dict(ref.params))
        except ValidationError as exc:
            problems.append(f"“{artifact.title}”: {_parameter_problem(exc)}")
            continue
        runs += 1
        if outcome.result is None:
            problems.append(f"“{artifact.title}”: {outcome.run.error}")
    return RerunOutcome(runs, problems)
