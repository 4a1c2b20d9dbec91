"""Display helpers for artifacts: `{% load artifacts %}`."""

from __future__ import annotations

import json

from django import template

register = template.Library()

# Bootstrap colour per status, so a status reads the same on every page.
STATUS_COLOURS = {
    "active": "success",
    "draft": "secondary",
    "deprecated": "warning",
    "failed": "danger",
}

ACTION_ICONS = {
    "created": "bi-plus-circle",
    "updated": "bi-pencil-square",
    "executed": "bi-play-circle",
    "referenced": "bi-link-45deg",
}


@register.filter
def status_colour(status: str) -> str:
    """{{ artifact.status|status_colour }} -> a Bootstrap colour name for the badge."""
    return STATUS_COLOURS.get(status, "secondary")


@register.filter
def action_icon(action: str) -> str:
    """{{ message.artifact_action|action_icon }} -> a bootstrap-icons class."""
    return ACTION_ICONS.get(action or "", "bi-file-earmark-code")


@register.filter
def pretty_json(value: object) -> str:
    """Indented JSON for display; the template's autoescaping still applies to the result."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
