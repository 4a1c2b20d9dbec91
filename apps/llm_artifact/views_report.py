"""The report's pages beside its artifact page (apps/llm_artifact/types/report.py): a new
report, the editor (a textarea with a preview; no JavaScript needed), Re-run, and the export
as one HTML file or a PDF."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.http import HtmxHttpRequest
from apps.llm_artifact.artifact_page import editable_artifact, visible_artifact
from apps.llm_artifact.forms_report import ReportForm
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.reports.export import PdfFailed, export_filename, report_html, report_pdf
from apps.llm_artifact.reports.render import render_report
from apps.llm_artifact.types import report as report_type
from apps.llm_artifact.types.report import markdown_of

EXPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _report(artifact: Artifact) -> Artifact:
    if artifact.artifact_type != report_type.TYPE.name:
        raise Http404(_("This artifact is not a report."))
    return artifact


def _editor(request: HtmxHttpRequest, form: ReportForm, artifact: Artifact | None) -> HttpResponse:
    """The editor, with a preview of the text as typed when asked for one (nothing saved)."""
    preview = None
    if "preview" in request.POST and "markdown" in form.cleaned_data:
        preview = render_report(form.cleaned_data["markdown"], request.user)
    context = {"form": form, "artifact": artifact, "preview": preview}
    return render(request, "llm_artifact/types/report_edit.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def report_new(request: HtmxHttpRequest) -> HttpResponse:
    artifact = Artifact(owner=request.user, artifact_type=report_type.TYPE.name)
    if request.method == "GET":
        return _editor(request, ReportForm(instance=artifact, user=request.user), None)
    form = ReportForm(request.POST, instance=artifact, user=request.user)
    if form.is_valid() and "preview" not in request.POST:
        artifact = form.save()
        messages.success(request, _("Report saved."))
        return redirect(artifact)
    return _editor(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def report_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _report(editable_artifact(request, pk))
    if request.method == "GET":
        return _editor(request, ReportForm(instance=artifact, user=request.user), artifact)
    form = ReportForm(request.POST, instance=artifact, user=request.user)
    if form.is_valid() and "preview" not in request.POST:
        form.save()
        messages.success(request, _("Report saved."))
        return redirect(artifact)
    return _editor(request, form, artifact)


@login_required
@require_POST
def report_rerun(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Run every artifact of the report this user may see, then show the report again."""
    artifact = _report(visible_artifact(request, pk))
    outcome = artifact.type_spec.run(artifact, user=request.user, raw_params={})
    for problem in outcome.problems:
        messages.error(request, problem)
    ran = ngettext("Ran %(count)s query.", "Ran %(count)s queries.", outcome.runs) % {
        "count": outcome.runs
    }
    messages.info(request, ran)
    return redirect(artifact)


@login_required
@require_GET
def report_export(request: HtmxHttpRequest, pk: int, export_format: str) -> HttpResponse:
    """The report as this user sees it, as one HTML file or a PDF."""
    if export_format not in EXPORT_TYPES:
        raise Http404(_("Reports export as html or pdf."))
    artifact = _report(visible_artifact(request, pk))
    rendered = render_report(
        markdown_of(artifact), request.user, absolute=request.build_absolute_uri("/")[:-1]
    )
    html = report_html(artifact.title, rendered, description=artifact.description)
    if export_format == "html":
        body = html.encode("utf-8")
    else:
        try:
            body = report_pdf(html)
        except PdfFailed as exc:
            messages.error(request, str(exc))
            return redirect(artifact)
    response = HttpResponse(body, content_type=EXPORT_TYPES[export_format])
    filename = export_filename(artifact.title, export_format)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
