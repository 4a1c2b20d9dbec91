"""The artifact pages: the list, the artifact page (run, export, inline edit, delete) and
the run from a chat card. The chart editor is in views_chart.py; what the artifact page
shows is built in artifact_page.py."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.http import HtmxHttpRequest, is_partial, page_or_partial
from apps.core.pagination import COUNT_LIMIT, IdsFirstPaginator
from apps.datasources.exports import EXPORT_FORMATS
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.artifact_page import (
    ResultTable,
    access_context,
    card_chart,
    declarations_error_of,
    detail_context,
    editable_artifact,
    managed_artifact,
    opening_context,
    run_context,
    visible_artifact,
)
from apps.llm_artifact.background import (
    continue_in_background,
    export_size,
    start_background_export,
)
from apps.llm_artifact.cards import ArtifactCard, card_key
from apps.llm_artifact.download import download_response
from apps.llm_artifact.forms import (
    ArtifactEditForm,
    ArtifactFilterForm,
    ArtifactRunForm,
)
from apps.llm_artifact.models import Artifact, ArtifactRun, chats_visible_to
from apps.llm_artifact.services import ExportFailed, export_artifact, run_artifact
from apps.llm_artifact.share_dialog import share_dialog
from apps.llm_artifact.templatetags.artifacts import ACTION_ICONS, params_summary
from apps.llm_artifact.views_chart import chart_context
from apps.llm_artifact.views_jobs import jobs_context

ARTIFACTS_PER_PAGE = 25
# The list page counts as far as the API does (apps.core.pagination.COUNT_LIMIT).
ARTIFACTS_COUNTED = COUNT_LIMIT
# Rows a chat card shows; the artifact page shows the whole displayed result.
CARD_ROWS = 10


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
    (_("Title"), "title", ""),
    (_("Status"), "status", ""),
    (_("Type"), "type", "xl"),
    (_("Agent"), "agent", "md"),
    (_("Chat"), "chat", "lg"),
    (_("Data source"), "data_source", "xl"),
    # On a phone: what it is, its state, and whether and when it runs.
    (_("Runs"), "runs", ""),
    (_("Last run"), "last_run", ""),
    (_("Updated"), "updated", "sm"),
]


def _columns(sort: str) -> list[Column]:
    key, direction = sort.removeprefix("-"), "desc" if sort.startswith("-") else "asc"
    return [
        Column(label, sort_key, shown_from, direction if sort_key == key else "")
        for label, sort_key, shown_from in COLUMNS
    ]


@login_required
@require_GET
@vary_on_headers("HX-Request")
def artifact_list(request: HtmxHttpRequest) -> HttpResponse:
    # The form narrows the artifacts to the chosen scope of those the user may see.
    form = ArtifactFilterForm(request.GET, artifacts=Artifact.objects.all(), user=request.user)
    # The shares ride along for the "shared" badge: one query for the page's rows. An
    # artifact shared with the user may come from a chat they may not see: its row names
    # the chat only when they may (the chat app's rule, asked in the rows' query).
    visible_chats = chats_visible_to(request.user).filter(pk=OuterRef("chat_id"))
    artifacts = form.filter(
        form.artifacts.with_related().with_shares().annotate(chat_visible=Exists(visible_chats))
    )
    # Counted up to a limit ("more than 1,000"), and deep pages read their rows by id: the
    # page costs about the same at 100,000 artifacts as at 1,000.
    paginator = IdsFirstPaginator(artifacts, ARTIFACTS_PER_PAGE, count_limit=ARTIFACTS_COUNTED)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page_obj": page,
        "columns": _columns(form.chosen_sort),
        "sort": form.chosen_sort,
    }
    return render(
        request, page_or_partial(request, "llm_artifact/artifact_list.html", "results"), context
    )


@login_required
@require_GET
def artifact_chat_options(request: HtmxHttpRequest) -> HttpResponse:
    """The chat filter's options for what is typed in "find a chat" (htmx swaps them into
    the select). Without JavaScript the list page itself lists the same options."""
    form = ArtifactFilterForm(request.GET, artifacts=Artifact.objects.all(), user=request.user)
    return render(request, "llm_artifact/artifact_list.html#chat_options", {"form": form})


@login_required
@require_GET
@vary_on_headers("HX-Request")
def artifact_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = visible_artifact(request, pk)
    spec = artifact_types.of(artifact)
    if is_partial(request):
        # "Cancel" in the inline editor asks for the summary back.
        context = {"artifact": artifact, **access_context(request, artifact)}
        return render(request, "llm_artifact/artifact_detail.html#summary", context)
    if not spec.uses_sql:
        # The type's own page (apps/llm_artifact/types).
        context = {
            "artifact": artifact,
            **access_context(request, artifact),
            **spec.page_context(request, artifact),
        }
        return render(request, spec.page_template, context)
    # The latest result (of the values in the URL) shows from what its run kept: opening
    # the page never runs the query.
    context = {
        **detail_context(request, artifact, chart_context(artifact)),
        **run_context(artifact, **opening_context(artifact, request.GET)),
        **jobs_context(request, artifact),
    }
    return render(request, spec.page_template, context)


@login_required
@require_POST
def artifact_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Run the artifact with the posted parameter values and show the result in place.

    htmx gets the run panel with the result, plus the status badge, statistics and run
    history out of band; a plain POST gets the whole page. Bad values come back beside
    their inputs with a 422, and nothing runs or is recorded. A run that runs out of the
    page's time is started again in the background with the source's larger limit, and
    the panel says so and links to its progress.
    """
    artifact = visible_artifact(request, pk, sql=True)
    run = result = None
    background_job = None
    form = None
    if not declarations_error_of(artifact):
        form = ArtifactRunForm(
            artifact.query_params, request.POST, data_source=artifact.data_source
        )
        if form.is_valid():
            try:
                run, result = run_artifact(
                    artifact, user=request.user, raw_params=form.cleaned_data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                background_job = continue_in_background(
                    artifact, run, user=request.user, raw_params=form.cleaned_data
                )
    context = {
        **run_context(artifact, form=form, run=run, result=result),
        **jobs_context(request, artifact),
        "background_job": background_job,
    }
    status = 200 if run is not None else 422
    if is_partial(request):
        response = render(
            request, "llm_artifact/artifact_detail.html#run_response", context, status=status
        )
        if run is not None:
            # The values go into the address bar: the run can be shared as a link, and a
            # reload opens on its result (artifact_detail shows what the run kept).
            query = form.query_string() if form is not None and form.fields else ""
            response["HX-Push-Url"] = artifact.get_absolute_url() + (f"?{query}" if query else "")
        return response
    context.update(detail_context(request, artifact, chart_context(artifact)))
    return render(request, "llm_artifact/artifact_detail.html", context, status=status)


@login_required
@require_GET
def artifact_export(request: HtmxHttpRequest, pk: int, export_format: str) -> HttpResponse:
    """Download the artifact's full result (up to the export cap) with the given values.

    The values arrive on the query string, as the run form names them. Bad values, or a
    query refused or failing before the first row, show the artifact page with the
    errors (400) instead of a file. A result of more than settings.BACKGROUND_EXPORT_ROWS
    rows (or whose rows cannot be counted within the page's time), or `?background=1`,
    goes to a worker instead: the answer is its progress page, which offers the file when
    it is written.
    """
    artifact = visible_artifact(request, pk, sql=True)
    if export_format not in EXPORT_FORMATS:
        raise Http404(f"No export format {export_format!r}.")
    form = None
    failed = None
    if not declarations_error_of(artifact):
        form = ArtifactRunForm(artifact.query_params, request.GET, data_source=artifact.data_source)
        if form.is_valid():
            try:
                reason = ""
                if request.GET.get("background") != "1":
                    _rows, reason = export_size(artifact, form.cleaned_data)
                if reason or request.GET.get("background") == "1":
                    record = start_background_export(
                        artifact,
                        user=request.user,
                        raw_params=form.cleaned_data,
                        export_format=export_format,
                        reason=reason,
                    )
                    return redirect(record)
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
                return download_response(request, export)
    context = {
        **detail_context(request, artifact, chart_context(artifact)),
        **run_context(artifact, form=form, run=failed, export_format=export_format),
        **jobs_context(request, artifact),
    }
    return render(request, "llm_artifact/artifact_detail.html", context, status=400)


@login_required
@require_POST
def artifact_card_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Run the artifact from its card in a chat, with the parameter values in the card.

    htmx gets the card back with its first rows (or the error) and, out of band, the fresh
    statistics for every card of the artifact on the page. A plain POST runs it too and goes
    to the artifact page with the values in its URL, where the run shows. Values that do
    not fit come back beside their inputs in the card, and nothing runs.
    """
    artifact = visible_artifact(request, pk, sql=True)
    # The card's caption ("Created artifact") comes from the chat; only known words return.
    action = request.POST.get("action", "")
    action = action if action in ACTION_ICONS else ""
    card = ArtifactCard(
        artifact,
        action,
        key=card_key(request.POST.get("card")),
        form_data=request.POST,
        shared=artifact.is_shared,
    )
    run = result = None
    needs_values: list[str] = []
    declarations_error = declarations_error_of(artifact)
    if not declarations_error and (card.form is None or card.form.is_valid()):
        raw_params = card.form.cleaned_data if card.form is not None else {}
        try:
            run, result = run_artifact(artifact, user=request.user, raw_params=raw_params)
        except ValidationError as exc:
            labels = {d["name"]: d.get("label") or d["name"] for d in artifact.query_params}
            needs_values = [labels.get(name, name) for name in exc.message_dict]
            if card.form is not None:
                card.form.add_error(None, exc)
    elif card.form is not None and card.form.errors:
        needs_values = [
            card.form[name].label for name in card.form.errors if name in card.form.fields
        ]
    if not is_partial(request):
        # Values other than the defaults are named in the message.
        given = card.form is not None and card.form.has_changed()
        _card_run_message(request, artifact, run, needs_values, declarations_error, given)
        # The values go along: the page opens on their run, or shows what is wrong with them.
        query = f"?{card.form.query_string()}" if card.form is not None else ""
        return redirect(f"{artifact.get_absolute_url()}{query}#artifact-run-panel")
    chart = card_chart(artifact, result)
    context = {
        "card": card,
        "card_ran": True,
        "run": run,
        "result_table": ResultTable.of(result, limit=CARD_ROWS),
        "chart": chart,
        # Under a chart the rows are one click away, so the card stays short.
        "fold_rows": bool(chart and not chart["errors"]),
        "needs_values": needs_values,
        "declarations_error": declarations_error,
    }
    response = render(request, "llm_artifact/artifact_card.html", context)
    if run is not None:
        # Every other card of this artifact on the page shows the same count and last run.
        stats = render(
            request,
            "llm_artifact/artifact_card.html#stats",
            {"artifact": artifact, "oob": True},
        )
        response.content += stats.content
    return response


def _card_run_message(
    request: HtmxHttpRequest,
    artifact: Artifact,
    run: ArtifactRun | None,
    needs_values: list[str],
    declarations_error: str,
    given: bool,
) -> None:
    if declarations_error:
        messages.error(
            request,
            gettext("“%(title)s” cannot run: %(error)s")
            % {"title": artifact.title, "error": declarations_error},
        )
    elif run is None:
        messages.warning(
            request,
            gettext("“%(title)s” needs values for %(names)s: fill them in below and run it.")
            % {"title": artifact.title, "names": ", ".join(needs_values)},
        )
    elif run.outcome == ArtifactRun.Outcome.OK:
        rows = ngettext("%(count)s row", "%(count)s rows", run.row_count) % {
            "count": number_format(run.row_count, force_grouping=True)
        }
        if given:
            text = gettext("Ran “%(title)s” with %(values)s: %(rows)s. Its result is below.")
        else:
            text = gettext(
                "Ran “%(title)s” with its default values: %(rows)s. Its result is below."
            )
        values = params_summary(run.params)
        messages.success(request, text % {"title": artifact.title, "values": values, "rows": rows})
    else:
        messages.error(
            request,
            gettext("“%(title)s” failed: %(error)s")
            % {"title": artifact.title, "error": run.error_for(request.user)},
        )


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def artifact_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Asked on the POST too: the form may have been opened while the user could still edit.
    artifact = editable_artifact(request, pk)
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
            "llm_artifact/artifact_detail.html#edit_response",
            {"artifact": artifact, "saved": True, **access_context(request, artifact)},
        )
    messages.success(request, gettext("Saved."))
    return redirect(artifact)


@login_required
@require_GET
def artifact_confirm_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = managed_artifact(request, pk)
    return render(request, "llm_artifact/artifact_confirm_delete.html", {"artifact": artifact})


@login_required
@require_POST
def artifact_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = managed_artifact(request, pk)
    title = artifact.title
    artifact.delete()
    messages.success(request, gettext("Deleted the artifact “%(title)s”.") % {"title": title})
    list_url = reverse("llm_artifact:artifact_list")
    if is_partial(request):
        return HttpResponseClientRedirect(list_url)
    return redirect(list_url)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def artifact_share(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The Share dialog of an artifact: who may see it, which groups may view or edit it,
    and handing it to another user. Only its owner (and staff), asked again on the POST."""
    artifact = managed_artifact(request, pk)
    return share_dialog(
        request,
        artifact,
        with_edit=True,
        data_source=artifact.data_source,
        share_url=reverse("llm_artifact:artifact_share", args=[artifact.pk]),
        list_url=reverse("llm_artifact:artifact_list"),
    )
