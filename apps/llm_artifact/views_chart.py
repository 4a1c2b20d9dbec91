"""The chart editor on the artifact page: check the Vega-Lite spec as it is typed, suggest
one from the latest result's columns, save it or remove it."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.http import HtmxHttpRequest, is_partial
from apps.llm_artifact.artifact_page import detail_page, editable_artifact
from apps.llm_artifact.charts import ChartProblem, suggest_visualization, validate_visualization
from apps.llm_artifact.forms import ArtifactChartForm, parse_chart_text
from apps.llm_artifact.models import Artifact


@dataclass(frozen=True)
class ChartCheck:
    """The chart editor's text, checked: what to say about it and what the preview draws."""

    problems: list[ChartProblem]
    # The spec to preview: None while it has errors; {} for "table only".
    spec: dict | None
    columns_known: bool

    @property
    def errors(self) -> list[ChartProblem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[ChartProblem]:
        return [p for p in self.problems if not p.is_error]


def check_chart_text(artifact: Artifact, text: str) -> ChartCheck:
    """The same check the model makes on save, for showing while the spec is typed."""
    names = artifact.last_result_column_names()
    try:
        spec: Any = parse_chart_text(text)
    except ValidationError as exc:
        return ChartCheck([ChartProblem("", exc.messages[0])], None, names is not None)
    problems = validate_visualization(spec, columns=names)
    has_errors = any(p.is_error for p in problems)
    return ChartCheck(problems, None if has_errors else spec, names is not None)


def chart_context(
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
    check = check_chart_text(artifact, text)
    if check.errors:
        # The problems are the live check's (shown below the editor), not the form's errors.
        form.fields["visualization_config"].widget.attrs["aria-invalid"] = "true"
    return {
        "chart_form": form,
        "chart_check": check,
        "chart_note": note,
        "chart_saved": saved,
        "chart_form_errors": form_errors or [],
    }


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

    The editor is for those who may change the artifact (403 for a viewer, even for check
    and suggest, which save nothing: the page does not offer them the editor).
    """
    artifact = editable_artifact(request, pk, sql=True)
    action = request.POST.get("action", "save")
    if action not in CHART_ACTIONS:
        action = "save"
    template = "llm_artifact/artifact_detail.html"

    # The form writes into its instance even when the spec is refused: give it a copy, so
    # the rest of the page keeps showing the stored chart.
    if action == "check":
        form = ArtifactChartForm(request.POST, instance=copy.copy(artifact))
        chart = chart_context(artifact, form=form)
        # "Chart saved." or "Suggested…" no longer describe text typed since.
        changed = chart["chart_check"].spec != (artifact.visualization_config or {})
        note = "Not saved yet: Save chart to keep these changes." if changed else ""
        context = {"artifact": artifact, **chart, "chart_note": note}
        if is_partial(request):
            return render(request, f"{template}#chart_check_response", context)
        return detail_page(request, artifact, context)

    if action == "suggest":
        form, note = _suggestion_form(artifact, request.POST)
        context = {"artifact": artifact, **chart_context(artifact, form=form, note=note)}
        if is_partial(request):
            return render(request, f"{template}#chart_editor", context)
        return detail_page(request, artifact, context)

    data = request.POST.copy()
    if action == "remove":
        data["visualization_config"] = ""
    form = ArtifactChartForm(data, instance=copy.copy(artifact))
    if not form.is_valid():
        chart = chart_context(artifact, form=form, form_errors=form.non_field_errors())
        context = {"artifact": artifact, **chart}
        if is_partial(request):
            return render(request, f"{template}#chart_editor", context, status=422)
        return detail_page(request, artifact, context, status=422)
    artifact = form.save(commit=False)
    # Only the chart: a run finishing meanwhile keeps its count and timestamp.
    artifact.save(update_fields=["visualization_config", "updated_at"])
    note = "Chart saved." if artifact.visualization_config else "Chart removed: a table only."
    if is_partial(request):
        context = {"artifact": artifact, **chart_context(artifact, note=note, saved=True)}
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
    return form, (
        "Suggested from the columns of the latest run (not saved). Adjust it and Save to keep it."
    )
