"""The bundle pages: "Export selected" on the artifact list, and the import page (upload,
a dry run showing what would happen and every problem, then confirm). The format and the
checks are apps.llm_artifact.bundles'."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.http import HtmxHttpRequest
from apps.llm_artifact.bundles import (
    BundleError,
    Conflict,
    apply_import,
    load_bundle,
    plan_import,
)
from apps.llm_artifact.download import bundle_download
from apps.llm_artifact.forms import BundleImportForm
from apps.llm_artifact.models import Artifact

# The uploaded bundle waits here between the dry run and the confirmation: a hidden field
# would be held to DATA_UPLOAD_MAX_MEMORY_SIZE, smaller than a bundle may be.
SESSION_KEY = "artifact_import"


@login_required
@require_POST
def artifact_bundle_export(request: HtmxHttpRequest) -> HttpResponse:
    """The checked artifacts of the list as a bundle file; one that is not visible is a 404."""
    ids = {value for value in request.POST.getlist("ids") if value.isdigit()}
    if not ids or len(ids) != len(request.POST.getlist("ids")):
        messages.warning(request, gettext("Select the artifacts to export with their checkboxes."))
        return redirect("llm_artifact:artifact_list")
    artifacts = Artifact.objects.visible_to(request.user).filter(pk__in=ids)
    if artifacts.count() != len(ids):
        raise Http404("No such artifact.")
    return bundle_download(artifacts)


@login_required
@require_http_methods(["GET", "POST"])
def artifact_import(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the upload form. POST with a file: the dry run. POST confirm: the import."""
    if request.method == "POST" and "confirm" in request.POST:
        return _confirm(request)
    form = BundleImportForm(request.POST or None, request.FILES or None)
    if request.method == "GET":
        return render(request, "llm_artifact/artifact_import.html", {"form": form})
    plan = None
    if form.is_valid():
        conflict = form.cleaned_data["conflict"]
        try:
            # One byte past the limit is enough for load_bundle to refuse it.
            bundle = load_bundle(form.cleaned_data["file"].read(settings.BUNDLE_MAX_BYTES + 1))
        except BundleError as exc:
            form.add_error("file", exc.message)
        else:
            plan = plan_import(bundle, request.user, conflict)
            if plan.ok:
                request.session[SESSION_KEY] = {"bundle": bundle, "conflict": conflict}
    status = 200 if plan is not None and plan.ok else 400
    context = {"form": form, "plan": plan}
    return render(request, "llm_artifact/artifact_import.html", context, status=status)


def _confirm(request: HtmxHttpRequest) -> HttpResponse:
    """Import what the dry run showed, checked again now (rights may have changed since)."""
    pending = request.session.get(SESSION_KEY)
    if not pending:
        messages.warning(request, gettext("Upload the bundle again: its dry run has expired."))
        return redirect("llm_artifact:artifact_import")
    plan = plan_import(pending["bundle"], request.user, pending.get("conflict", Conflict.SKIP))
    if plan.ok:
        try:
            apply_import(plan)
        except BundleError as exc:
            plan.problems.append(exc.message)
    if not plan.ok:
        context = {"form": BundleImportForm(), "plan": plan}
        return render(request, "llm_artifact/artifact_import.html", context, status=400)
    del request.session[SESSION_KEY]
    counts = plan.counts
    messages.success(
        request,
        f"Imported: {counts['create']} created, {counts['update']} updated, "
        f"{counts['skip']} skipped.",
    )
    return redirect("llm_artifact:artifact_list")
