"""What the artifact page shows, shared by its views (views.py) and the chart editor
(views_chart.py): the artifact looked up for the user, the run panel, the run history, the
statistics and where the artifact came from."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from apps.accounts.sharing import Visibility
from apps.core.http import HtmxHttpRequest
from apps.datasources.executor import QueryResult, ResultColumn
from apps.datasources.exports import EXPORT_FORMATS
from apps.datasources.sources import all_data_sources
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.charts import chart_payload, chart_records
from apps.llm_artifact.forms import ArtifactRunForm
from apps.llm_artifact.models import Artifact, ArtifactRun, sql_digest
from apps.llm_artifact.parameters import resolve_values, validate_declarations

# The run history on the artifact page.
RECENT_RUNS = 10
EXPORT_LABELS = {"csv": "CSV", "json": "JSON", "xlsx": "XLSX"}


# What a 403 says to someone who may see the artifact but not do what they asked.
NOT_YOURS_TO_EDIT = (
    "You may view and run this artifact, but not change it: ask its owner for edit access."
)
NOT_YOURS_TO_MANAGE = (
    "Only the artifact's owner can delete it, change its sharing or hand it to someone else."
)


def visible_artifact(request: HtmxHttpRequest, pk: int, *, sql: bool = False) -> Artifact:
    """The artifact if the user may see it (and run, export and chart it), else 404.

    `sql`: for the pages of SQL content (run, export, chart, workbench, template use): an
    artifact of another type (apps/llm_artifact/types) has none of them, so 404 too.
    """
    artifacts = Artifact.objects.visible_to(request.user).with_related()
    if sql:
        artifacts = artifacts.filter(artifact_type__in=artifact_types.sql_names())
    # The chart editor checks fields against the latest result: fetched in the same query.
    return get_object_or_404(artifacts.with_last_result_columns(), pk=pk)


def editable_artifact(request: HtmxHttpRequest, pk: int, *, sql: bool = False) -> Artifact:
    """The artifact if the user may change it, asked afresh on every write: 404 if they
    cannot see it, 403 if they may only see it (a share taken back a minute ago counts)."""
    artifact = visible_artifact(request, pk, sql=sql)
    if not request.user.has_perm("artifacts.change", artifact):
        raise PermissionDenied(NOT_YOURS_TO_EDIT)
    return artifact


def managed_artifact(request: HtmxHttpRequest, pk: int) -> Artifact:
    """The artifact if the user may delete it, share it or hand it on (its owner, staff):
    404 if they cannot see it, 403 otherwise."""
    artifact = visible_artifact(request, pk)
    if not request.user.has_perm("artifacts.share", artifact):
        raise PermissionDenied(NOT_YOURS_TO_MANAGE)
    return artifact


def access_context(request: HtmxHttpRequest, artifact: Artifact) -> dict:
    """What the page offers this user, asked once: the edit controls (inline edit, chart
    editor) and the owner's (Share, Delete)."""
    user = request.user
    return {
        "can_edit": user.has_perm("artifacts.change", artifact),
        "can_manage": user.has_perm("artifacts.share", artifact),
    }


@dataclass(frozen=True)
class ResultTable:
    """The rows of a run's result to show, and what to say about the rest."""

    columns: list[ResultColumn]
    rows: list
    # Rows the run returned (at most the source's display cap) and whether it had more.
    row_count: int
    truncated: bool

    @classmethod
    def of(cls, result: QueryResult | None, *, limit: int | None = None) -> ResultTable | None:
        if result is None:
            return None
        rows = result.rows if limit is None else result.rows[:limit]
        return cls(result.columns, rows, result.row_count, result.truncated)

    @property
    def shown(self) -> int:
        return len(self.rows)

    @property
    def cut(self) -> bool:
        """Fewer rows are shown than the run returned (a chat card's preview)."""
        return self.shown < self.row_count


@dataclass(frozen=True)
class ExportLink:
    label: str
    base_url: str
    query: str

    @property
    def url(self) -> str:
        return f"{self.base_url}?{self.query}" if self.query else self.base_url


def page_chart(artifact: Artifact, result: QueryResult | None) -> dict | None:
    """What the artifact page's run panel draws: the chart, or at least the rows.

    A table-only artifact still gets the rows (spec None), so the chart editor can preview
    a spec being written over the result on the page.
    """
    if result is None:
        return None
    if artifact.visualization_config:
        return chart_payload(
            artifact.visualization_config, result.columns, result.rows, result.truncated
        )
    records, _note = chart_records(result.columns, result.rows, result.truncated)
    return {"spec": None, "datasets": {"results": records}, "errors": []}


def card_chart(artifact: Artifact, result: QueryResult | None) -> dict | None:
    """The chart a chat card draws after a run: all the run's rows, not only those listed."""
    if result is None or not artifact.visualization_config:
        return None
    return chart_payload(
        artifact.visualization_config, result.columns, result.rows, result.truncated
    )


def _chart_image_links(artifact: Artifact, query: str) -> list[ExportLink]:
    """Server-drawn PNG and SVG of the chart (the API endpoint; it runs the query)."""
    if not artifact.visualization_config:
        return []
    return [
        ExportLink(
            label,
            reverse("api:artifact-chart", kwargs={"pk": artifact.pk, "format": fmt}),
            query,
        )
        for fmt, label in (("png", "PNG"), ("svg", "SVG"))
    ]


def _data_source_url(artifact: Artifact) -> str:
    # Only a configured source has a schema page; a link to a 404 helps nobody.
    if artifact.data_source in all_data_sources():
        return reverse("datasources:data_source_detail", args=[artifact.data_source])
    return ""


def declarations_error_of(artifact: Artifact) -> str:
    """Why the artifact's parameter declarations cannot make a form ("" when they can).

    Saving validates them, but a row can be stored without full_clean (bulk tools)."""
    try:
        validate_declarations(artifact.query_params)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def latest_snapshot(artifact: Artifact, values: dict | None = None) -> ArtifactRun | None:
    """The latest good run of the artifact as it is now (its SQL, its source) that kept its
    first rows; with `values`, the latest run with exactly those parameter values."""
    runs = artifact.runs.filter(
        outcome=ArtifactRun.Outcome.OK,
        snapshot__isnull=False,
        data_source=artifact.data_source,
        sql_digest=sql_digest(artifact.sql_query),
    )
    if values is not None:
        runs = runs.filter(params=values)
    return runs.order_by("-started_at", "-id").first()


def snapshot_result(run: ArtifactRun) -> QueryResult:
    """A run's kept rows as a result the run panel can show."""
    columns = [ResultColumn(str(c["name"]), str(c["type"])) for c in run.columns or []]
    rows = [tuple(row) for row in run.snapshot or []]
    return QueryResult(columns, rows, run.row_count, run.truncated, run.duration_ms)


def opening_context(artifact: Artifact, query: dict) -> dict:
    """What the run panel shows when the page opens, without running anything.

    The parameter values in the URL (a shared link, a reload after a run) fill the form
    and pick the latest run with those values; without any, the latest run shows with its
    values. Its kept rows show when it has them.
    """
    if declarations_error_of(artifact):
        return {}
    declarations = artifact.query_params
    if any(d["name"] in query for d in declarations):
        form = ArtifactRunForm(declarations, query, data_source=artifact.data_source)
        shown = None
        if form.is_valid():
            try:
                values = resolve_values(
                    declarations, form.cleaned_data, data_source=artifact.data_source
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                shown = latest_snapshot(artifact, values)
    else:
        shown = latest_snapshot(artifact)
        form = ArtifactRunForm(
            declarations,
            values=shown.params if shown else None,
            data_source=artifact.data_source,
        )
    if shown is None:
        return {"form": form}
    return {"form": form, "run": shown, "result": snapshot_result(shown), "snapshot": True}


def run_context(
    artifact: Artifact,
    *,
    form: ArtifactRunForm | None = None,
    run: ArtifactRun | None = None,
    result: QueryResult | None = None,
    export_format: str = "",
    snapshot: bool = False,
) -> dict:
    """What the run panel, the run history and the statistics show: `run` as recorded, and
    its `result` when it succeeded (with `snapshot`, the rows it kept: the page opened on
    it)."""
    declarations_error = declarations_error_of(artifact)
    if form is None and not declarations_error:
        form = ArtifactRunForm(artifact.query_params, data_source=artifact.data_source)
    query = form.query_string() if form is not None else ""
    return {
        "artifact": artifact,
        "run_form": form,
        "declarations_error": declarations_error,
        "run": run,
        "snapshot": snapshot,
        "result_table": ResultTable.of(result),
        "chart": page_chart(artifact, result),
        "export_format": EXPORT_LABELS.get(export_format, ""),
        "export_links": [
            ExportLink(
                label, reverse("llm_artifact:artifact_export", args=[artifact.pk, key]), query
            )
            for key, label in EXPORT_LABELS.items()
            if key in EXPORT_FORMATS
        ],
        "chart_links": _chart_image_links(artifact, query),
        # Not the kept rows: ten runs' worth would be a lot to read for a list of times.
        "recent_runs": artifact.runs.select_related("user").defer("snapshot")[:RECENT_RUNS],
        "data_source_url": _data_source_url(artifact),
    }


def detail_context(request: HtmxHttpRequest, artifact: Artifact, chart_editor: dict) -> dict:
    """Where the artifact came from, and the chart editor in the state `chart_editor` gives
    (views_chart.chart_context)."""
    created_by = (
        artifact.messages.filter(artifact_action="created")
        .select_related("chat")
        .order_by("created_at", "id")
        .first()
    )
    user = request.user
    # Links only to chats this user may open, so they never lead to a 404.
    chat_visible = artifact.chat is not None and artifact.chat.is_visible_to(user)
    if created_by and not created_by.chat.is_visible_to(user):
        created_by = None
    # Who else sees it (the Details panel); a private artifact's kept shares give nothing.
    shares = (
        list(artifact.shares.select_related("group"))
        if artifact.visibility != Visibility.PRIVATE
        else []
    )
    return {
        "artifact": artifact,
        "created_by": created_by,
        "chat_visible": chat_visible,
        "shares": shares,
        **access_context(request, artifact),
        **chart_editor,
    }


def detail_page(
    request: HtmxHttpRequest, artifact: Artifact, chart_editor: dict, status: int = 200
) -> HttpResponse:
    """The whole artifact page with the chart editor in the given state (no JavaScript)."""
    context = {**detail_context(request, artifact, chart_editor), **run_context(artifact)}
    return render(request, "llm_artifact/artifact_detail.html", context, status=status)
