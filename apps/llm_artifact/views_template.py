""" "Use this template": pick a data source, fill the template's slots from its schema and
its parameters, preview the result (recorded nowhere) and save a new artifact of one's own.

Without JavaScript the form works in two steps: "Update choices" (a POST that only shows
the page again) offers the columns of the tables chosen; with htmx a change of the data
source or a table asks for the slots again by itself (a GET with the values chosen so far,
pushed to the address bar so the page is linkable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from apps.core.http import HtmxHttpRequest, is_partial
from apps.datasources.access import usable_source_names
from apps.datasources.executor import QueryFailed, QueryResult
from apps.llm_artifact.artifact_page import visible_artifact
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.services import TemplateInputError, use_template
from apps.llm_artifact.templating import SlotField, slot_fields

PREVIEW_ROWS = 50
PAGE = "llm_artifact/template_use.html"


@dataclass
class UseForm:
    """What the user chose so far, read from a GET or a POST of the page."""

    data_source: str
    slots: dict[str, str]
    params: dict[str, str]
    title: str
    errors: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, template: Artifact, data: QueryDict, sources: list[str]) -> UseForm:
        # A source the user may not use is kept as given: the service refuses it (like an
        # unknown one) and the page offers none of its tables.
        source = data.get("data_source", "")
        if not source:
            source = template.data_source if template.data_source in sources else ""
            source = source or (sources[0] if sources else "")
        slots = {slot["name"]: data.get(f"slot_{slot['name']}", "") for slot in _slots(template)}
        params = {
            declaration["name"]: data[f"param_{declaration['name']}"]
            for declaration in template.query_params
            if f"param_{declaration['name']}" in data
        }
        return cls(source, slots, params, data.get("title", "").strip())


def _slots(template: Artifact) -> list[dict]:
    return template.template_slots if isinstance(template.template_slots, list) else []


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def template_use(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    template = visible_artifact(request, pk, sql=True)
    if not template.is_template:
        raise Http404("This artifact is not a template.")
    sources = usable_source_names(request.user)
    data = request.POST if request.method == "POST" else request.GET
    form = UseForm.read(template, data, sources)
    result = None
    status = 200
    action = request.POST.get("action") if request.method == "POST" else None
    # "Update choices" (without JavaScript) only shows the columns of the tables chosen.
    if action in ("preview", "save"):
        preview = action == "preview"
        try:
            outcome = use_template(
                template,
                user=request.user,
                data_source=form.data_source,
                slot_values=form.slots,
                raw_params=form.params,
                title=form.title,
                preview=preview,
            )
        except TemplateInputError as exc:
            form.errors = exc.errors
            status = 422
        except QueryFailed as exc:
            form.errors = {"": [exc.message_for(request.user)]}
            status = 422
        else:
            if isinstance(outcome, Artifact):
                messages.success(
                    request,
                    gettext("Saved “%(title)s” from the template.") % {"title": outcome.title},
                )
                return redirect(outcome)
            result = outcome
    context = _context(request, template, form, sources, result)
    if is_partial(request) and request.method == "GET":
        return render(request, f"{PAGE}#slots", context)
    return render(request, PAGE, context, status=status)


def _context(
    request: HtmxHttpRequest,
    template: Artifact,
    form: UseForm,
    sources: list[str],
    result: QueryResult | None,
) -> dict[str, Any]:
    fields: list[SlotField] = []
    schema_error = ""
    if form.data_source in sources:
        try:
            fields = slot_fields(_slots(template), form.data_source, form.slots)
        except QueryFailed as exc:
            schema_error = exc.message_for(request.user)
    slot_errors = form.errors.get("slots", {})
    param_errors = form.errors.get("params", {})
    general = [
        message
        for key, messages_ in form.errors.items()
        if key not in ("slots", "params")
        for message in (messages_ if isinstance(messages_, list) else [messages_])
    ]
    return {
        "template": template,
        "artifact": template,
        "form": form,
        "sources": sources,
        "slot_fields": [
            (slot, _first(slot_errors.get(slot.name)), _dependents(slot, fields)) for slot in fields
        ],
        "parameters": [
            (
                declaration,
                form.params.get(declaration["name"], _shown_default(declaration)),
                _first(param_errors.get(declaration["name"])),
            )
            for declaration in template.query_params
        ],
        "errors": general,
        "unknown_slot_errors": {
            name: message for name, message in slot_errors.items() if name not in form.slots
        },
        "schema_error": schema_error,
        "result": result,
        "rows": result.rows[:PREVIEW_ROWS] if result else [],
    }


def _first(messages_: Any) -> str:
    if isinstance(messages_, list):
        return str(messages_[0]) if messages_ else ""
    return str(messages_ or "")


def _dependents(slot: SlotField, fields: list[SlotField]) -> bool:
    """Whether other slots' choices depend on this one (a table with its columns)."""
    return any(other.table_slot == slot.name for other in fields)


def _shown_default(declaration: dict) -> str:
    default = declaration.get("default")
    return "" if default is None else str(default)
