from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.http import HtmxHttpRequest, is_partial, page_or_partial
from apps.datasources.executor import ResultColumn
from apps.datasources.exports import EXPORT_FORMATS
from apps.datasources.sources import all_data_sources
from apps.llm_artifact.charts import (
    ChartError,
    chart_payload,
    chart_records,
    suggest_visualization,
    validate_visualization,
)
from apps.llm_artifact.exports import export_response
from apps.llm_artifact.forms import (
    ArtifactChartForm,
    ArtifactEditForm,
    ArtifactFilterForm,
    ArtifactRunForm,
    parse_chart_text,
)
from apps.llm_artifact.models import Artifact, ArtifactRun
from apps.llm_artifact.parameters import validate_declarations
from apps.llm_artifact.services import ExportFailed, export_artifact, run_artifact
from apps.llm_artifact.templatetags.artifacts import ACTION_ICONS

ARTIFACTS_PER_PAGE = 25
# The run history on the artifact page.
RECENT_RUNS = 10
# Rows a chat card shows; the artifact page shows the whole displayed result.
CARD_ROWS = 10
EXPORT_LABELS = {"csv": "CSV", "json": "JSON", "xlsx": "XLSX"}


@dataclass(frozen=True)
class Column:
    """A column header of the artifact table, with the sort its link applies next."""

    label: str
    sort_key: str
    # Narrow screens show the essential columns only; this names the breakpoint from which
    # the column appears ("" for always).
    shown_from: str = ""
    current: str = ""  # "asc", "desc" or "" when the table is not sorted by this column

    @property
    def next_sort(self) -> str:
        # The first click sorts ascending, the next one flips it.
        return f"-{self.sort_key}" if self.current == "asc" else str(self.sort_key)

    @property
    def aria_sort(self) -> str:
        return {"asc": "ascending", "desc": "descending"}.get(self.current, "none")


COLUMNS = [
    ("Title", "title", ""),
    ("Status", "status", ""),
    ("Type", "type", "xl"),
    ("Agent", "agent", "md"),
    ("Chat", "chat", "lg"),
    ("Data source", "data_source", "xl"),
    ("Runs", "runs", "sm"),
    ("Last run", "last_run", "md"),
    ("Updated", "updated", "sm"),
]


def _columns(sort: str) -> list[Column]:
    key, direction = sort.removeprefix("-"), "desc" if sort.startswith("-") else "asc"
    return [
        Column(label, sort_key, shown_from, direction if sort_key == key else "")
        for label, sort_key, shown_from in COLUMNS
    ]


def _visible_artifact(request: HtmxHttpRequest, pk: int) -> Artifact:
    artifacts = Artifact.objects.visible_to(request.user).with_related()
    # The chart editor checks fields against the latest result: fetched in the same query.
    return get_object_or_404(artifacts.with_last_result_columns(), pk=pk)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def artifact_list(request: HtmxHttpRequest) -> HttpResponse:
    visible = Artifact.objects.visible_to(request.user)
    form = ArtifactFilterForm(request.GET, artifacts=visible)
    artifacts = form.filter(visible.with_related())
    page = Paginator(artifacts, ARTIFACTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page_obj": page,
        "columns": _columns(form.chosen_sort),
        "sort": form.chosen_sort,
        "show_owner": request.user.is_staff,
    }
    return render(
        request, page_or_partial(request, "llm_artifact/artifact_list.html", "results"), context
    )


@dataclass(frozen=True)
class ResultTable:
    """The rows of a run's result to show, and what to say about the rest."""

    columns: list[ResultColumn]
    rows: list
    # Rows the run returned (at most the source's display cap) and whether it had more.
    row_count: int
    truncated: bool

    @classmethod
    def of(cls, run: ArtifactRun, *, limit: int | None = None) -> ResultTable | None:
        result = getattr(run, "result", None)
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


def _page_chart(artifact: Artifact, run: ArtifactRun | None) -> dict | None:
    """What the artifact page's run panel draws: the chart, or at least the rows.

    A table-only artifact still gets the rows (spec None), so the chart editor can preview
    a spec being written over the result on the page.
    """
    result = getattr(run, "result", None) if run else None
    if result is None:
        return None
    if artifact.visualization_config:
        return chart_payload(
            artifact.visualization_config, result.columns, result.rows, result.truncated
        )
    records, _note = chart_records(result.columns, result.rows, result.truncated)
    return {"spec": None, "datasets": {"results": records}, "errors": []}


def _card_chart(artifact: Artifact, run: ArtifactRun | None) -> dict | None:
    """The chart a chat card draws after a run: all the run's rows, not only those listed."""
    result = getattr(run, "result", None) if run else None
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


@dataclass(frozen=True)
class ChartCheck:
    """The chart editor's text, checked: what to say about it and what the preview draws."""

    problems: list[ChartError]
    # The spec to preview: None while it has errors; {} for "table only".
    spec: dict | None
    columns_known: bool

    @property
    def errors(self) -> list[ChartError]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[ChartError]:
        return [p for p in self.problems if not p.is_error]


def _check_chart_text(artifact: Artifact, text: str) -> ChartCheck:
    """The same check the model makes on save, for showing while the spec is typed."""
    columns = artifact.last_result_columns()
    try:
        spec: Any = parse_chart_text(text)
    except ValidationError as exc:
        return ChartCheck([ChartError("", exc.messages[0])], None, columns is not None)
    names = [column["name"] for column in columns] if columns is not None else None
    problems = validate_visualization(spec, columns=names)
    has_errors = any(p.is_error for p in problems)
    return ChartCheck(problems, None if has_errors else spec, columns is not None)


def _chart_context(
    artifact: Artifact,
    *,
    form: ArtifactChartForm | None = None,
    note: str = "",
    saved: bool = False,
    form_errors: list[str] | None = None,
) -> dict:
    """What the chart editor shows: the form, its check, and what happened last.

    `form_errors` are the save's errors about other fields than the chart (its SQL, say);
    the chart's own problems come from the check, with their paths.
    """
    if form is None:
        form = ArtifactChartForm(instance=artifact)
    text = form["visualization_config"].value() or ""
    return {
        "chart_form": form,
        "chart_check": _check_chart_text(artifact, text),
        "chart_note": note,
        "chart_saved": saved,
        "chart_form_errors": form_errors or [],
    }


def _data_source_url(artifact: Artifact) -> str:
    # Only a configured source has a schema page; a link to a 404 helps nobody.
    if artifact.data_source in all_data_sources():
        return reverse("datasources:data_source_detail", args=[artifact.data_source])
    return ""


def _declarations_error(artifact: Artifact) -> str:
    """Why the artifact's parameter declarations cannot make a form ("" when they can).

    Saving validates them, but a row can be stored without full_clean (bulk tools)."""
    try:
        validate_declarations(artifact.query_params)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


def _run_context(
    artifact: Artifact,
    *,
    form: ArtifactRunForm | None = None,
    run: ArtifactRun | None = None,
    export_format: str = "",
) -> dict:
    """What the run panel, the run history and the statistics show."""
    declarations_error = _declarations_error(artifact)
    if form is None and not declarations_error:
        form = ArtifactRunForm(artifact.query_params)
    query = form.query_string() if form is not None else ""
    return {
        "artifact": artifact,
        "run_form": form,
        "declarations_error": declarations_error,
        "run": run,
        "result_table": ResultTable.of(run) if run else None,
        "chart": _page_chart(artifact, run),
        "export_format": EXPORT_LABELS.get(export_format, ""),
        "export_links": [
            ExportLink(
                label, reverse("llm_artifact:artifact_export", args=[artifact.pk, key]), query
            )
            for key, label in EXPORT_LABELS.items()
            if key in EXPORT_FORMATS
        ],
        "chart_links": _chart_image_links(artifact, query),
        "recent_runs": artifact.runs.select_related("user")[:RECENT_RUNS],
        "data_source_url": _data_source_url(artifact),
    }


def _detail_context(
    request: HtmxHttpRequest, artifact: Artifact, chart: dict | None = None
) -> dict:
    created_by = (
        artifact.messages.filter(artifact_action="created")
        .select_related("chat")
        .order_by("created_at", "id")
        .first()
    )
    user = request.user
    # Links only to chats this user may open, so they never lead to a 404.
    chat_visible = artifact.chat is not None and (
        user.is_staff or artifact.chat.owner_id == user.pk
    )
    if created_by and not (user.is_staff or created_by.chat.owner_id == user.pk):
        created_by = None
    return {
        "artifact": artifact,
        "created_by": created_by,
        "chat_visible": chat_visible,
        **(chart if chart is not None else _chart_context(artifact)),
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def artifact_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _visible_artifact(request, pk)
    if is_partial(request):
        # "Cancel" in the inline editor asks for the summary back.
        return render(request, "llm_artifact/artifact_detail.html#summary", {"artifact": artifact})
    context = {**_detail_context(request, artifact), **_run_context(artifact)}
    return render(request, "llm_artifact/artifact_detail.html", context)


@login_required
@require_POST
def artifact_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Run the artifact with the posted parameter values and show the result in place.

    htmx gets the run panel with the result, plus the status badge, statistics and run
    history out of band; a plain POST gets the whole page. Bad values come back beside
    their inputs with a 422, and nothing runs or is recorded.
    """
    artifact = _visible_artifact(request, pk)
    run = None
    form = None
    if not _declarations_error(artifact):
        form = ArtifactRunForm(artifact.query_params, request.POST)
        if form.is_valid():
            try:
                run = run_artifact(artifact, user=request.user, raw_params=form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
    context = _run_context(artifact, form=form, run=run)
    status = 200 if run is not None else 422
    if is_partial(request):
        return render(
            request, "llm_artifact/artifact_detail.html#run_response", context, status=status
        )
    context.update(_detail_context(request, artifact))
    return render(request, "llm_artifact/artifact_detail.html", context, status=status)


@login_required
@require_GET
def artifact_export(request: HtmxHttpRequest, pk: int, export_format: str) -> HttpResponse:
    """Download the artifact's full result (up to the export cap) with the given values.

    The values arrive on the query string, as the run form names them. Bad values, or a
    query refused or failing before the first row, show the artifact page with the
    errors (400) instead of a file.
    """
    artifact = _visible_artifact(request, pk)
    if export_format not in EXPORT_FORMATS:
        raise Http404(f"No export format {export_format!r}.")
    form = None
    failed = None
    if not _declarations_error(artifact):
        form = ArtifactRunForm(artifact.query_params, request.GET)
        if form.is_valid():
            try:
                export = export_artifact(
                    artifact,
                    user=request.user,
                    raw_params=form.cleaned_data,
                    export_format=export_format,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except ExportFailed as exc:
                failed = exc.run
            else:
                return export_response(request, export)
    context = {
        **_detail_context(request, artifact),
        **_run_context(artifact, form=form, run=failed, export_format=export_format),
    }
    return render(request, "llm_artifact/artifact_detail.html", context, status=400)


@login_required
@require_POST
def artifact_card_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Run the artifact from its card in a chat, with its default parameter values.

    htmx gets the card back with its first rows (or the error) and fresh statistics. A
    plain POST runs it too and goes to the artifact page, where the run is in the history.
    Parameters that need a value send the user to the artifact page to give one.
    """
    artifact = _visible_artifact(request, pk)
    # The card's caption ("Created artifact") comes from the chat; only known words return.
    action = request.POST.get("action", "")
    action = action if action in ACTION_ICONS else ""
    run = None
    needs_values: list[str] = []
    declarations_error = _declarations_error(artifact)
    if not declarations_error:
        try:
            run = run_artifact(artifact, user=request.user, raw_params={})
        except ValidationError as exc:
            labels = {d["name"]: d.get("label") or d["name"] for d in artifact.query_params}
            needs_values = [labels.get(name, name) for name in exc.message_dict]
    if not is_partial(request):
        _card_run_message(request, artifact, run, needs_values, declarations_error)
        return redirect(f"{artifact.get_absolute_url()}#artifact-run-panel")
    chart = _card_chart(artifact, run)
    context = {
        "artifact": artifact,
        "action": action,
        "card_ran": True,
        "run": run,
        "result_table": ResultTable.of(run, limit=CARD_ROWS) if run else None,
        "chart": chart,
        # Under a chart the rows are one click away, so the card stays short.
        "fold_rows": bool(chart and not chart["errors"]),
        "needs_values": needs_values,
        "declarations_error": declarations_error,
    }
    return render(request, "llm_artifact/artifact_card.html", context)


def _card_run_message(
    request: HtmxHttpRequest,
    artifact: Artifact,
    run: ArtifactRun | None,
    needs_values: list[str],
    declarations_error: str,
) -> None:
    if declarations_error:
        messages.error(request, f"“{artifact.title}” cannot run: {declarations_error}")
    elif run is None:
        messages.warning(
            request,
            f"“{artifact.title}” needs values for {', '.join(needs_values)}: "
            "fill them in below and run it.",
        )
    elif run.outcome == ArtifactRun.Outcome.OK:
        rows = f"{run.row_count:,} row{'s' if run.row_count != 1 else ''}"
        messages.success(
            request,
            f"Ran “{artifact.title}” with its default values: {rows}. Run it below to see them.",
        )
    else:
        messages.error(request, f"“{artifact.title}” failed: {run.error}")


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def artifact_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _visible_artifact(request, pk)
    template = page_or_partial(request, "llm_artifact/artifact_edit.html", "edit_form")
    if request.method == "GET":
        form = ArtifactEditForm(instance=artifact)
        return render(request, template, {"artifact": artifact, "form": form})

    form = ArtifactEditForm(request.POST, instance=artifact)
    if not form.is_valid():
        return render(request, template, {"artifact": artifact, "form": form}, status=422)
    artifact = form.save(commit=False)
    # Only the edited fields: a run finishing meanwhile keeps its count and timestamp.
    artifact.save(update_fields=[*ArtifactEditForm.Meta.fields, "updated_at"])
    if is_partial(request):
        return render(
            request,
            "llm_artifact/artifact_detail.html#summary",
            {"artifact": artifact, "saved": True},
        )
    messages.success(request, "Saved.")
    return redirect(artifact)


CHART_ACTIONS = {"check", "suggest", "save", "remove"}


@login_required
@require_POST
def artifact_chart(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The chart editor's verbs, by the `action` posted:

    - check: the problems of the spec being typed and the spec to preview (htmx, as the
      editor changes; nothing is saved);
    - suggest: fill the editor with a chart proposed from the latest result's columns;
    - save: store the spec after the model's checks (422 with the errors in place);
    - remove: store {} so the result shows as a table.
    htmx gets the editor (or, for check, its feedback) back; a plain POST gets the page, or
    a redirect to it once saved.
    """
    artifact = _visible_artifact(request, pk)
    action = request.POST.get("action", "save")
    if action not in CHART_ACTIONS:
        action = "save"
    template = "llm_artifact/artifact_detail.html"

    # The form writes into its instance even when the spec is refused: give it a copy, so
    # the rest of the page keeps showing the stored chart.
    if action == "check":
        form = ArtifactChartForm(request.POST, instance=copy.copy(artifact))
        context = {"artifact": artifact, **_chart_context(artifact, form=form)}
        if is_partial(request):
            return render(request, f"{template}#chart_check", context)
        return _detail_page(request, artifact, context)

    if action == "suggest":
        form, note = _suggestion_form(artifact, request.POST)
        context = {"artifact": artifact, **_chart_context(artifact, form=form, note=note)}
        if is_partial(request):
            return render(request, f"{template}#chart_editor", context)
        return _detail_page(request, artifact, context)

    data = request.POST.copy()
    if action == "remove":
        data["visualization_config"] = ""
    form = ArtifactChartForm(data, instance=copy.copy(artifact))
    if not form.is_valid():
        chart = _chart_context(artifact, form=form, form_errors=form.non_field_errors())
        context = {"artifact": artifact, **chart}
        if is_partial(request):
            return render(request, f"{template}#chart_editor", context, status=422)
        return _detail_page(request, artifact, context, status=422)
    artifact = form.save(commit=False)
    # Only the chart: a run finishing meanwhile keeps its count and timestamp.
    artifact.save(update_fields=["visualization_config", "updated_at"])
    note = "Chart saved." if artifact.visualization_config else "Chart removed: a table only."
    if is_partial(request):
        context = {"artifact": artifact, **_chart_context(artifact, note=note, saved=True)}
        return render(request, f"{template}#chart_editor", context)
    messages.success(request, note)
    return redirect(f"{artifact.get_absolute_url()}#artifact-chart")


def _suggestion_form(artifact: Artifact, typed: Any) -> tuple[ArtifactChartForm, str]:
    """The editor filled with a suggested spec (not saved), and a note saying what it is.

    Without a suggestion the editor keeps what was typed (`typed`, the posted form).
    """
    columns = artifact.last_result_columns()
    if columns is None:
        return (
            ArtifactChartForm(typed, instance=copy.copy(artifact)),
            "Run the query first: a chart is suggested from its result's columns.",
        )
    spec = suggest_visualization(columns)
    if not spec:
        return (
            ArtifactChartForm(typed, instance=copy.copy(artifact)),
            "No chart suits these columns (a chart needs a number with a date, a category "
            "or another number); the result stays a table.",
        )
    form = ArtifactChartForm(
        {"visualization_config": json.dumps(spec, indent=2, ensure_ascii=False)},
        instance=copy.copy(artifact),
    )
    return form, "Suggested from the result's columns. Adjust it and Save to keep it."


def _detail_page(
    request: HtmxHttpRequest, artifact: Artifact, chart_context: dict, status: int = 200
) -> HttpResponse:
    """The whole artifact page with the chart editor in the given state (no JavaScript)."""
    context = {**_detail_context(request, artifact, chart_context), **_run_context(artifact)}
    return render(request, "llm_artifact/artifact_detail.html", context, status=status)


@login_required
@require_GET
def artifact_confirm_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _visible_artifact(request, pk)
    return render(request, "llm_artifact/artifact_confirm_delete.html", {"artifact": artifact})


@login_required
@require_POST
def artifact_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _visible_artifact(request, pk)
    title = artifact.title
    artifact.delete()
    messages.success(request, f"Deleted the artifact “{title}”.")
    list_url = reverse("llm_artifact:artifact_list")
    if is_partial(request):
        return HttpResponseClientRedirect(list_url)
    return redirect(list_url)
