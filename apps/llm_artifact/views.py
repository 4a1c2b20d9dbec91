from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.core.http import HtmxHttpRequest
from apps.llm_artifact.forms import ArtifactEditForm, ArtifactFilterForm
from apps.llm_artifact.models import Artifact

ARTIFACTS_PER_PAGE = 25


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
    return get_object_or_404(Artifact.objects.visible_to(request.user).with_related(), pk=pk)


def _is_partial(request: HtmxHttpRequest) -> bool:
    # A history restore after a cache miss wants the whole page, not the fragment.
    return bool(request.htmx) and not request.htmx.history_restore_request


@login_required
@require_GET
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
    template = "llm_artifact/artifact_list.html"
    response = render(request, f"{template}#results" if _is_partial(request) else template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _detail_context(request: HtmxHttpRequest, artifact: Artifact) -> dict:
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
    return {"artifact": artifact, "created_by": created_by, "chat_visible": chat_visible}


@login_required
@require_GET
def artifact_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _visible_artifact(request, pk)
    if _is_partial(request):
        # "Cancel" in the inline editor asks for the summary back.
        response = render(
            request, "llm_artifact/artifact_detail.html#summary", {"artifact": artifact}
        )
    else:
        response = render(
            request, "llm_artifact/artifact_detail.html", _detail_context(request, artifact)
        )
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_http_methods(["GET", "POST"])
def artifact_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    artifact = _visible_artifact(request, pk)
    template = "llm_artifact/artifact_edit.html"
    if request.method == "GET":
        form = ArtifactEditForm(instance=artifact)
        response = render(
            request,
            f"{template}#edit_form" if _is_partial(request) else template,
            {"artifact": artifact, "form": form},
        )
        patch_vary_headers(response, ("HX-Request",))
        return response

    form = ArtifactEditForm(request.POST, instance=artifact)
    if not form.is_valid():
        return render(
            request,
            f"{template}#edit_form" if request.htmx else template,
            {"artifact": artifact, "form": form},
            status=422,
        )
    artifact = form.save(commit=False)
    # Only the edited fields: a run finishing meanwhile keeps its count and timestamp.
    artifact.save(update_fields=[*ArtifactEditForm.Meta.fields, "updated_at"])
    if request.htmx:
        return render(
            request,
            "llm_artifact/artifact_detail.html#summary",
            {"artifact": artifact, "saved": True},
        )
    messages.success(request, "Saved.")
    return redirect(artifact)


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
    if request.htmx:
        return HttpResponseClientRedirect(list_url)
    return redirect(list_url)
