"""The library: tags and the verified mark on the artifact page, and the /library/ page of
the artifacts a user may see, verified first, grouped by tag and data source, searchable.
What the library page shows is built in library.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.http import HtmxHttpRequest, is_partial, page_or_partial
from apps.llm_artifact.library import LibraryFilter, library_context
from apps.llm_artifact.models import Artifact

PANEL = "llm_artifact/library_panel.html#panel"


def _editable_artifact(request: HtmxHttpRequest, pk: int) -> Artifact:
    """The artifact for a write, looked up now: 404 when not visible, 403 when only visible."""
    artifact = get_object_or_404(Artifact.objects.visible_to(request.user).with_library(), pk=pk)
    if not artifact.is_editable_by(request.user):
        raise PermissionDenied("You may see this artifact but not change it.")
    return artifact


def _panel_answer(
    request: HtmxHttpRequest, artifact: Artifact, *, errors: dict | None = None, note: str = ""
) -> HttpResponse:
    """htmx gets the panel back (422 with the errors beside their fields); a plain POST
    goes back to the artifact page, with the errors as messages."""
    if is_partial(request):
        context = {"artifact": artifact, "can_edit": True, "errors": errors or {}, "note": note}
        return render(request, PANEL, context, status=422 if errors else 200)
    for field_errors in (errors or {}).values():
        for error in field_errors:
            messages.error(request, error)
    if note and not errors:
        messages.success(request, note)
    return redirect(f"{artifact.get_absolute_url()}#artifact-library")


@login_required
@require_POST
def artifact_tags(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Add tags (`add`: names separated by commas; new ones are created) or remove one
    (`remove`: its name)."""
    artifact = _editable_artifact(request, pk)
    names = [tag.name for tag in artifact.tags.all()]
    if removed := request.POST.get("remove", "").strip().lower():
        names = [name for name in names if name.lower() != removed]
    names += request.POST.get("add", "").split(",")
    try:
        artifact.set_tags(names)
    except ValidationError as exc:
        return _panel_answer(request, artifact, errors=exc.message_dict)
    # The panel reads the tags again, in order.
    artifact = _editable_artifact(request, pk)
    return _panel_answer(request, artifact, note="Tags saved.")


@login_required
@require_POST
def artifact_verify(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Mark verified for the question posted (or the artifact's own)."""
    artifact = _editable_artifact(request, pk)
    question = " ".join(request.POST.get("question", "").split()) or artifact.question.strip()
    if not question:
        errors = {"question": ["Say which question the artifact answers."]}
        return _panel_answer(request, artifact, errors=errors)
    if len(question) > 2000:
        errors = {"question": ["A question has at most 2,000 characters."]}
        return _panel_answer(request, artifact, errors=errors)
    artifact.verify(request.user, question)
    return _panel_answer(request, artifact, note="Marked as verified.")


@login_required
@require_POST
def artifact_unverify(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _editable_artifact(request, pk)
    artifact.unverify()
    return _panel_answer(request, artifact, note="The verified mark is removed.")


@login_required
@require_GET
@vary_on_headers("HX-Request")
def library(request: HtmxHttpRequest) -> HttpResponse:
    form = LibraryFilter(request.GET)
    context = library_context(request.user, form)
    template = page_or_partial(request, "llm_artifact/library.html", "results")
    return render(request, template, context)
