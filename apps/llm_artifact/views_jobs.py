"""Background runs and exports from the artifact page: starting one, its progress (a page
whose status part htmx polls; a plain reload without JavaScript), cancelling it, and
downloading an export's file when it is ready."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.http import HtmxHttpRequest, is_partial, page_or_partial
from apps.datasources.exports import EXPORT_FORMATS
from apps.llm_artifact.artifact_page import (
    declarations_error_of,
    detail_context,
    run_context,
    visible_artifact,
)
from apps.llm_artifact.background import start_background_export, start_background_run
from apps.llm_artifact.download import file_download
from apps.llm_artifact.forms import ArtifactRunForm
from apps.llm_artifact.models import Artifact, ArtifactJob
from apps.llm_artifact.views_chart import chart_context

# The background jobs listed on the artifact page.
RECENT_JOBS = 10


def recent_jobs(request: HtmxHttpRequest, artifact: Artifact) -> list[ArtifactJob]:
    """The user's own latest background runs and exports of this artifact (which the
    caller found visible to them: one query)."""
    jobs = ArtifactJob.objects.filter(artifact=artifact, job__requested_by=request.user)
    return list(jobs.select_related("job")[:RECENT_JOBS])


def jobs_context(request: HtmxHttpRequest, artifact: Artifact) -> dict:
    jobs = recent_jobs(request, artifact)
    return {
        "artifact": artifact,
        "recent_jobs": jobs,
        "jobs_unfinished": any(not record.job.is_finished for record in jobs),
    }


def _artifact_job(request: HtmxHttpRequest, pk: int, job_id) -> ArtifactJob:
    """The job if the user may see it (its requester or staff, while they may see the
    artifact), else 404."""
    jobs = ArtifactJob.objects.visible_to(request.user).select_related("job", "artifact")
    return get_object_or_404(jobs, artifact_id=pk, job_id=job_id)


@login_required
@require_POST
def artifact_background(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Send a run (or, with `export_format`, an export) with the posted values to a worker,
    and go to its progress page. Bad values bring the artifact page back with errors."""
    artifact = visible_artifact(request, pk)
    export_format = request.POST.get("export_format", "")
    if export_format and export_format not in EXPORT_FORMATS:
        raise Http404(_("No export format %(format)r.") % {"format": export_format})
    form = None
    if not declarations_error_of(artifact):
        form = ArtifactRunForm(
            artifact.query_params, request.POST, data_source=artifact.data_source
        )
        if form.is_valid():
            try:
                if export_format:
                    record = start_background_export(
                        artifact,
                        user=request.user,
                        raw_params=form.cleaned_data,
                        export_format=export_format,
                    )
                else:
                    record = start_background_run(
                        artifact, user=request.user, raw_params=form.cleaned_data
                    )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if is_partial(request):
                    return HttpResponseClientRedirect(record.get_absolute_url())
                return redirect(record)
    if is_partial(request):
        # Beside their inputs in the run panel, as a run's bad values are.
        context = {**run_context(artifact, form=form), **jobs_context(request, artifact)}
        return render(request, "llm_artifact/artifact_detail.html#run_panel", context, status=422)
    context = {
        **detail_context(request, artifact, chart_context(artifact)),
        **run_context(artifact, form=form),
        **jobs_context(request, artifact),
    }
    return render(request, "llm_artifact/artifact_detail.html", context, status=400)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def artifact_jobs(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The user's background runs and exports of the artifact (the artifact page's panel,
    which htmx refreshes while one is unfinished)."""
    artifact = visible_artifact(request, pk)
    template = page_or_partial(request, "llm_artifact/artifact_jobs.html", "jobs_panel")
    return render(request, template, jobs_context(request, artifact))


@login_required
@require_GET
@vary_on_headers("HX-Request")
def artifact_job(request: HtmxHttpRequest, pk: int, job_id) -> HttpResponse:
    """One background run or export: its status and progress, Cancel, and the download."""
    record = _artifact_job(request, pk, job_id)
    template = page_or_partial(request, "llm_artifact/artifact_job.html", "status")
    return render(request, template, {"record": record, "artifact": record.artifact})


@login_required
@require_POST
def artifact_job_cancel(request: HtmxHttpRequest, pk: int, job_id) -> HttpResponse:
    record = _artifact_job(request, pk, job_id)
    if record.job.request_cancel():
        if record.job.is_finished:
            text = _("Cancelled.")
        else:
            text = _("Asked to stop: it stops within seconds.")
    else:
        text = _("It had already finished.")
    if is_partial(request):
        context = {"record": record, "artifact": record.artifact, "note": text}
        return render(request, "llm_artifact/artifact_job.html#status", context)
    messages.info(request, text)
    return redirect(record)


@login_required
@require_GET
def artifact_job_download(request: HtmxHttpRequest, pk: int, job_id) -> FileResponse:
    """The export's file, streamed from disk (never read into memory), while it is kept."""
    record = _artifact_job(request, pk, job_id)
    if record.kind != ArtifactJob.Kind.EXPORT or record.expired or not record.has_file:
        raise Http404(_("This export has no file (yet, or any more)."))
    return file_download(
        request,
        record.file_path,
        filename=record.download_name or record.file_name,
        content_type=EXPORT_FORMATS[record.export_format].content_type,
    )
