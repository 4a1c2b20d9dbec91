"""The dashboard's own pages (the dashboard itself is the artifact page, rendered by its type:
types/dashboard.py): a tile loading itself, and the editors' changes to the grid and the
filters. Every change is a plain POST form that comes back to the dashboard, so the page
works without JavaScript; static/js/dashboard.js adds drag and drop (which posts the new
order) and re-runs the tiles a changed filter affects, each in place."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.core.http import HtmxHttpRequest, is_partial
from apps.llm_artifact.artifact_page import NOT_YOURS_TO_EDIT, ResultTable, card_chart
from apps.llm_artifact.forms_dashboard import FilterForm, TileForm
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.types.dashboard import (
    TILE_ROWS,
    WIDTHS,
    DashboardDocument,
    filter_query,
    filter_values,
    run_tile,
    tiles_for,
)

DASHBOARD = "dashboard"


def visible_dashboard(request: HtmxHttpRequest, pk: int) -> Artifact:
    """The dashboard if the user may see it, else 404 (as an artifact that is not one)."""
    dashboards = Artifact.objects.visible_to(request.user).filter(artifact_type=DASHBOARD)
    return get_object_or_404(dashboards.select_related("owner"), pk=pk)


def editable_dashboard(request: HtmxHttpRequest, pk: int) -> Artifact:
    """The dashboard if the user may change it: 404 if they cannot see it, else 403."""
    dashboard = visible_dashboard(request, pk)
    if not request.user.has_perm("artifacts.change", dashboard):
        raise PermissionDenied(NOT_YOURS_TO_EDIT)
    return dashboard


@login_required
@require_GET
@vary_on_headers("HX-Request")
def dashboard_tile(request: HtmxHttpRequest, pk: int, tile_id: str) -> HttpResponse:
    """One tile, run with the filter values in the URL: htmx swaps its body into the
    dashboard; without JavaScript it is a page of its own."""
    dashboard = visible_dashboard(request, pk)
    document = DashboardDocument.of(dashboard.document)
    tile = next(iter(tiles_for(dashboard, request.user, document, only=tile_id)), None)
    if tile is None or tile.doc.kind != "artifact":
        raise Http404(_("No such tile."))
    values = filter_values(document, request.GET)
    context = {"artifact": dashboard, "tile": tile, "filter_query": filter_query(document, values)}
    if tile.artifact is not None:
        outcome = run_tile(document, tile, request.user, values)
        chart = card_chart(tile.artifact, outcome.result) if tile.doc.show == "chart" else None
        context.update(
            outcome=outcome,
            run=outcome.run,
            result_table=ResultTable.of(outcome.result, limit=TILE_ROWS),
            chart=chart,
        )
    template = "llm_artifact/types/dashboard_tile.html"
    return render(request, f"{template}#tile_body" if is_partial(request) else template, context)


def _change(
    request: HtmxHttpRequest, dashboard: Artifact, change: Callable[[dict], None], done: str
) -> HttpResponse:
    """Apply `change` to the dashboard's document, check it as the model does, save it and
    go back to the dashboard (with its filter values); a refused change says why."""
    document = DashboardDocument.of(dashboard.document).dump()
    change(document)
    dashboard.document = document
    try:
        dashboard.full_clean(
            exclude=[f.name for f in Artifact._meta.fields if f.name != "document"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return _back(request, dashboard, status=422)
    dashboard.save(update_fields=["document", "updated_at"])
    if is_partial(request):
        return HttpResponse(status=204)
    messages.success(request, done)
    return _back(request, dashboard)


def _back(request: HtmxHttpRequest, dashboard: Artifact, status: int = 302) -> HttpResponse:
    if is_partial(request) and status != 302:
        return HttpResponse(" ".join(str(m) for m in messages.get_messages(request)), status=status)
    document = DashboardDocument.of(dashboard.document)
    # Only the dashboard's own filter keys come back from the form's hidden copy of the URL.
    query = filter_query(document, filter_values(document, request.POST))
    anchor = request.POST.get("anchor", "")
    anchor = f"#{anchor}" if anchor.replace("-", "").isalnum() else ""
    return redirect(f"{dashboard.get_absolute_url()}{'?' + query if query else ''}{anchor}")


@login_required
@require_POST
def dashboard_tile_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    dashboard = editable_dashboard(request, pk)
    form = TileForm(request.POST, user=request.user)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _back(request, dashboard)
    tile_id = DashboardDocument.of(dashboard.document).new_tile_id()

    def add(document: dict) -> None:
        document["tiles"].append(form.tile(tile_id))

    return _change(request, dashboard, add, _("Added a tile."))


# What each tile button does to the list of tiles.
def _remove(tiles: list, index: int) -> None:
    tiles.pop(index)


def _resize(step: int) -> Callable[[list, int], None]:
    def resize(tiles: list, index: int) -> None:
        position = WIDTHS.index(tiles[index]["width"])
        tiles[index]["width"] = WIDTHS[min(max(position + step, 0), len(WIDTHS) - 1)]

    return resize


def _move(step: int) -> Callable[[list, int], None]:
    def move(tiles: list, index: int) -> None:
        target = min(max(index + step, 0), len(tiles) - 1)
        tiles.insert(target, tiles.pop(index))

    return move


TILE_VERBS = {
    "remove": (_remove, gettext_lazy("Removed the tile.")),
    "wider": (_resize(1), gettext_lazy("Made the tile wider.")),
    "narrower": (_resize(-1), gettext_lazy("Made the tile narrower.")),
    "up": (_move(-1), gettext_lazy("Moved the tile earlier.")),
    "down": (_move(1), gettext_lazy("Moved the tile later.")),
}


@login_required
@require_POST
def dashboard_tile_change(
    request: HtmxHttpRequest, pk: int, tile_id: str, verb: str
) -> HttpResponse:
    dashboard = editable_dashboard(request, pk)
    if verb not in TILE_VERBS:
        raise Http404(_("No such change."))
    ids = [tile.id for tile in DashboardDocument.of(dashboard.document).tiles]
    if tile_id not in ids:
        raise Http404(_("No such tile."))
    apply, done = TILE_VERBS[verb]

    def change(document: dict) -> None:
        apply(document["tiles"], ids.index(tile_id))

    return _change(request, dashboard, change, str(done))


@login_required
@require_POST
def dashboard_order(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The tiles in a new order (drag and drop posts it): every tile's id, once each."""
    dashboard = editable_dashboard(request, pk)
    order = [tile_id for tile_id in request.POST.get("order", "").split(",") if tile_id]
    current = {tile.id for tile in DashboardDocument.of(dashboard.document).tiles}
    if sorted(order) != sorted(current):
        message = _("The new order must list every tile of the dashboard once.")
        if is_partial(request):
            return HttpResponse(message, status=400)
        messages.error(request, message)
        return _back(request, dashboard)

    def reorder(document: dict) -> None:
        by_id = {tile["id"]: tile for tile in document["tiles"]}
        document["tiles"] = [by_id[tile_id] for tile_id in order]

    return _change(request, dashboard, reorder, _("Saved the new order."))


@login_required
@require_POST
def dashboard_filter_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    dashboard = editable_dashboard(request, pk)
    form = FilterForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label}: {error}")
        return _back(request, dashboard)
    taken = {f.name for f in DashboardDocument.of(dashboard.document).filters}

    def add(document: dict) -> None:
        document["filters"].append(form.filter(taken))

    return _change(request, dashboard, add, _("Added the filter."))


@login_required
@require_POST
def dashboard_filter_remove(request: HtmxHttpRequest, pk: int, name: str) -> HttpResponse:
    dashboard = editable_dashboard(request, pk)
    if name not in {f.name for f in DashboardDocument.of(dashboard.document).filters}:
        raise Http404(_("No such filter."))

    def remove(document: dict) -> None:
        document["filters"] = [f for f in document["filters"] if f["name"] != name]

    return _change(request, dashboard, remove, _("Removed the filter."))
