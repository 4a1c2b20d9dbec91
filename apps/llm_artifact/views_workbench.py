"""The workbench: write an artifact's SQL, parameters and chart on a page, check, format and
preview them, and save; "New artifact"; and "Duplicate" on the artifact page.

Everything works with plain form posts: one form, whose submit buttons say what to do
(`action`: check, format, preview, add, save, save_new; or `declare` with a parameter's
name). With JavaScript the SQL editor (apps.core.widgets.SQLEditorWidget) checks, formats
and previews in place through the API, and static/js/workbench.js enhances the parameter
editor; the posts stay the same.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.http import HtmxHttpRequest, is_partial
from apps.datasources.access import exposure_of
from apps.datasources.check import SQLCheck, format_sql
from apps.datasources.check import check as check_sql
from apps.datasources.executor import QueryFailed, QueryResult
from apps.datasources.guard import SQLRejected
from apps.datasources.sources import get_data_source
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.artifact_page import ResultTable
from apps.llm_artifact.forms_workbench import (
    DECLARATIONS_INPUT_ID,
    PARAMETERS_PREFIX,
    ParameterFormSet,
    WorkbenchForm,
    parameter_initial,
    with_new_parameter,
)
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.services import preview_sql
from apps.llm_artifact.throttling import PreviewRunThrottle, throttled_message
from apps.llm_artifact.views_chart import ChartCheck, check_chart_spec

# The fields the workbench writes; a run finishing meanwhile keeps its statistics.
WRITTEN_FIELDS = ["title", "data_source", "sql_query", "query_params", "visualization_config"]
# "chart": the chart's check alone, as it is typed (htmx; the whole page without it).
ACTIONS = {"check", "format", "preview", "add", "save", "save_new", "chart"}


def check(sql: str, source: str, declarations: list | None = None) -> SQLCheck:
    """The editor's check of `sql`, against only the tables and columns the source exposes
    (hidden ones are checked as missing and never suggested)."""
    return check_sql(sql, get_data_source(source), declarations, exposure=exposure_of(source))


def editable_artifact(request: HtmxHttpRequest, pk: int) -> Artifact:
    """The artifact `pk` for its editors: 404 for whoever may not see it, 403 for whoever
    sees it but may not edit it (apps/accounts/sharing.py's rule, asked of the database).
    Only an SQL type has a workbench (apps/llm_artifact/types): 404 for another."""
    sql_types = Artifact.objects.filter(artifact_type__in=artifact_types.sql_names())
    artifact = get_object_or_404(sql_types.visible_to(request.user), pk=pk)
    if not Artifact.objects.editable_by(request.user).filter(pk=pk).exists():
        raise PermissionDenied("You may see this artifact but not change it.")
    return artifact


@login_required
@require_http_methods(["GET", "POST"])
def artifact_new(request: HtmxHttpRequest) -> HttpResponse:
    """A new artifact written from scratch: data source, title, SQL, parameters, chart."""
    return _workbench(request, Artifact(owner=request.user), pk=None)


@login_required
@require_http_methods(["GET", "POST"])
def artifact_workbench(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """An artifact's SQL, parameters and chart, for those who may edit it."""
    return _workbench(request, editable_artifact(request, pk), pk=pk)


def _workbench(request: HtmxHttpRequest, artifact: Artifact, *, pk: int | None) -> HttpResponse:
    if request.method == "GET":
        form = WorkbenchForm(instance=artifact, user=request.user)
        formset = ParameterFormSet(
            initial=parameter_initial(artifact.query_params), prefix=PARAMETERS_PREFIX
        )
        sql_check = None
        if pk is not None and (source := form.chosen_source()):
            sql_check = check(artifact.sql_query, source, artifact.query_params)
        chart_check = _chart_check(artifact, form, artifact.sql_query)
        return _render(
            request, artifact, form, formset, sql_check=sql_check, chart_check=chart_check
        )

    data = request.POST
    declare = data.get("declare", "").strip()
    action = "declare" if declare else data.get("action", "check")
    if action not in ACTIONS | {"declare"}:
        action = "check"
    note = ""
    form = WorkbenchForm(data, instance=artifact, user=request.user)
    if action == "chart" and is_partial(request):
        context = {"chart_check": _chart_check(artifact, form, data.get("sql_query", ""))}
        return render(request, "llm_artifact/artifact_workbench.html#chart_check", context)
    source_name = form.chosen_source()
    if action == "add":
        data = with_new_parameter(data)
    elif action == "declare":
        # The type the SQL check guesses from the parameter's use (datasources/check.py).
        guessed = {}
        if source_name:
            guessed = check(data.get("sql_query", ""), source_name).parameter_types
        data = with_new_parameter(data, declare, guessed.get(declare, "string"))
    if action == "format" and source_name:
        data, note = _formatted(data, source_name)
        form = WorkbenchForm(data, instance=artifact, user=request.user)
    formset = ParameterFormSet(data, prefix=PARAMETERS_PREFIX)
    declarations = formset.declarations() if formset.is_valid() else None
    if declarations is not None:
        artifact.query_params = declarations
    sql = data.get("sql_query", "")
    sql_check = None
    if sql.strip() and source_name:
        sql_check = check(sql, source_name, declarations)

    preview, preview_error, status = None, None, 200
    if action == "preview":
        preview, preview_error, status = _throttled_preview(request, source_name, sql, declarations)

    if action in ("save", "save_new"):
        if formset.is_valid() and form.is_valid():
            return _save(request, form, pk=pk, as_new=action == "save_new" or pk is None)
        chart_check = _chart_check(artifact, form, sql)
        return _render(
            request,
            artifact,
            form,
            formset,
            sql_check=sql_check,
            chart_check=chart_check,
            status=422,
            note=note,
        )
    return _render(
        request,
        artifact,
        form,
        formset,
        sql_check=sql_check,
        chart_check=_chart_check(artifact, form, sql, preview),
        preview=preview,
        preview_error=preview_error,
        note=note,
        # Only a save reports the form's errors; checking the rest shows the SQL's problems.
        quiet=True,
        status=status,
    )


def _formatted(data, source_name: str):
    """The posted data with its SQL pretty-printed for the source's dialect, and a note."""
    try:
        formatted = format_sql(data.get("sql_query", ""), get_data_source(source_name).dialect)
    except SQLRejected as exc:
        return data, gettext("Not formatted: %(reason)s") % {"reason": exc.message}
    data = data.copy()
    data["sql_query"] = formatted
    return data, gettext("Formatted.")


def _throttled_preview(request, source_name, sql: str, declarations):
    """(preview, error, status) of a preview run the workbench asked for."""
    throttle = PreviewRunThrottle()
    if declarations is None:
        return None, gettext("Fix the parameters first."), 200
    if not source_name:
        return None, gettext("Choose a data source."), 200
    if not throttle.allowed(request):
        # The same per-user limit as POST /api/sql/run/ (the editor's Ctrl+Enter).
        return None, throttled_message(throttle.wait()), 429
    preview, error = _preview(request, source_name, sql, declarations)
    return preview, error, 200


def _chart_check(
    artifact: Artifact, form: WorkbenchForm, sql: str, preview: QueryResult | None = None
) -> ChartCheck:
    """The chart as typed, checked as the artifact page's chart editor checks it, against the
    columns this SQL gives: the preview's, or the latest run's while the SQL is the one that
    ran (Artifact.last_result_columns compares them); otherwise the fields go unchecked."""
    text = form["visualization_config"].value() or ""
    if not text.strip():
        names = None  # a table only: nothing to check against columns, no query for them
    elif preview is not None:
        names = [column.name for column in preview.columns]
    elif artifact.pk is not None and sql.replace("\r\n", "\n") == artifact.sql_query:
        names = artifact.last_result_column_names()
    else:
        names = None
    return check_chart_spec(text, names)


def _preview(
    request: HtmxHttpRequest, source: str, sql: str, declarations: list[dict]
) -> tuple[QueryResult | None, str]:
    """The SQL run with the parameters' defaults, recorded nowhere."""
    if not sql.strip():
        return None, "Write the SQL first."
    try:
        return preview_sql(source, sql, declarations=declarations, raw_params={}), ""
    except ValidationError as exc:
        return None, " ".join(exc.messages)
    except QueryFailed as exc:
        return None, exc.message_for(request.user)


def _save(request: HtmxHttpRequest, form: WorkbenchForm, *, pk: int | None, as_new: bool):
    edited = form.instance
    if not as_new:
        # Asked again at write time: sharing may have changed since the page was shown.
        with transaction.atomic():
            if not Artifact.objects.editable_by(request.user).filter(pk=pk).exists():
                raise PermissionDenied("You may no longer change this artifact.")
            edited.keep_verified = bool(form.cleaned_data.get("keep_verified"))
            edited.save(update_fields=[*WRITTEN_FIELDS, "updated_at"])
        messages.success(request, gettext("Saved “%(title)s”.") % {"title": edited.title})
        return redirect(edited)
    copy = Artifact(
        owner=request.user,
        title=edited.title,
        data_source=edited.data_source,
        sql_query=edited.sql_query,
        query_params=edited.query_params,
        visualization_config=edited.visualization_config,
        description=edited.description,
        agent=edited.agent,
    )
    copy.save()
    if pk is None:
        text = gettext("Saved a new artifact: “%(title)s”, yours and private.")
    else:
        text = gettext("Saved as a new artifact: “%(title)s”, yours and private.")
    messages.success(request, text % {"title": copy.title})
    return redirect(copy)


def _render(
    request: HtmxHttpRequest,
    artifact: Artifact,
    form: WorkbenchForm,
    formset,
    *,
    sql_check: SQLCheck | None = None,
    chart_check: ChartCheck | None = None,
    preview: QueryResult | None = None,
    preview_error: str = "",
    note: str = "",
    quiet: bool = False,
    status: int = 200,
) -> HttpResponse:
    declarations = artifact.query_params if isinstance(artifact.query_params, list) else []
    unused = set(sql_check.unused) if sql_check else set()
    if chart_check and chart_check.errors:
        form.fields["visualization_config"].widget.attrs["aria-invalid"] = "true"
    context = {
        "artifact": artifact,
        "is_new": artifact.pk is None,
        "form": form,
        "formset": formset,
        "rows": [(row, row["name"].value() in unused) for row in formset],
        "quiet": quiet,
        "sql_check": sql_check,
        "problems": sql_check.diagnostics if sql_check else [],
        "chart_check": chart_check,
        # Offered for declaration, with the type the check guesses from their use.
        "undeclared": [
            (name, sql_check.parameter_types.get(name, "string")) for name in sql_check.undeclared
        ]
        if sql_check
        else [],
        "note": note,
        "preview": ResultTable.of(preview),
        "preview_error": preview_error,
        "declarations_json": json.dumps(declarations),
        "declarations_input_id": DECLARATIONS_INPUT_ID,
    }
    return render(request, "llm_artifact/artifact_workbench.html", context, status=status)


@login_required
@require_POST
def artifact_duplicate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A copy of an artifact anyone who may see it can make: theirs, private, "Copy of …",
    without its runs, statistics, chat or shares."""
    artifact = get_object_or_404(Artifact.objects.visible_to(request.user), pk=pk)
    copy = artifact.copy_for(request.user)
    messages.success(
        request,
        gettext("This is your private copy of “%(title)s”.") % {"title": artifact.title},
    )
    return redirect(copy)
