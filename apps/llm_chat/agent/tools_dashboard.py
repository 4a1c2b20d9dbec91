"""The agent's dashboard tools (the dashboard type names them: apps/llm_artifact/types/
dashboard.py, `agent_tools`): put SQL artifacts, existing or saved earlier in the turn, on a
dashboard with filters, and change one made in this chat. The dashboard appears as a card in
the chat that opens it.

The tiles are checked as a person's would be: each artifact must be an SQL artifact the
chat's owner may see, and the document passes the type's own checks (the model's clean()).
"""

from __future__ import annotations

from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from pydantic import BaseModel, Field
from pydantic_ai import RunContext, Tool, ToolReturn

from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.types.dashboard import DashboardDocument, filter_name
from apps.llm_chat.agent.tools import TurnDeps, _validation_feedback
from apps.llm_chat.models import Message

DASHBOARD = "dashboard"


class DashboardTile(BaseModel):
    """A tile: an SQL artifact (artifact_id) or a Markdown text (text)."""

    artifact_id: int | None = Field(
        None, description="An SQL artifact's id (saved in this chat, or from search_artifacts)."
    )
    text: str | None = Field(None, description="Markdown for a text tile, instead of an artifact.")
    show: Literal["chart", "table", "number"] = Field(
        "table",
        description='"chart" (the artifact needs a chart), "table", or "number": one big number '
        "(the first row's value of `column`, or its first numeric column) with the change "
        "against the previous period when a date range filter applies.",
    )
    width: Literal[3, 4, 6, 8, 12] = Field(6, description="Columns of 12 it takes.")
    title: str = Field("", description="Shown instead of the artifact's title.")
    column: str = Field("", description='For show="number": the result column to show.')
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Fixed values for the artifact's parameters."
    )


class DashboardFilter(BaseModel):
    """A filter over the tiles: a date range or one value, filling parameters by name."""

    label: str = Field(description='What the user reads, e.g. "Order date".')
    kind: Literal["date_range", "value"]
    params: list[str] = Field(
        description="The parameter names it fills in every tile whose artifact declares them: "
        'a date range gives [start, end], e.g. ["start_date", "end_date"]; a value one name.'
    )
    default: list[str] = Field(
        default_factory=list,
        description="A date range's [start, end] (dates or relative: \"start_of_month -1 "
        'month", "today"); a value filter\'s [value]; [] keeps each tile\'s own default.',
    )


def _document(deps: TurnDeps, tiles: list[DashboardTile], filters: list[DashboardFilter]):
    """The document for these tiles and filters, or the text telling the model what is wrong."""
    ids = {tile.artifact_id for tile in tiles if tile.artifact_id is not None}
    found = {
        artifact.pk: artifact
        for artifact in Artifact.objects.visible_to(deps.owner).filter(
            pk__in=ids, artifact_type__in=artifact_types.sql_names()
        )
    }
    missing = sorted(ids - set(found))
    if missing:
        listed = ", ".join(f"#{pk}" for pk in missing)
        return (
            f"Nothing was saved: no SQL artifact {listed} that you may use. Save the query "
            "with save_artifact first, or find one with search_artifacts."
        )
    document: dict[str, Any] = {"tiles": [], "filters": []}
    for number, tile in enumerate(tiles, start=1):
        entry: dict[str, Any] = {"id": f"t{number}", "width": tile.width}
        if tile.artifact_id is None:
            entry.update(kind="text", text=tile.text or "")
        else:
            entry.update(
                kind="artifact",
                artifact=str(found[tile.artifact_id].uid),
                show=tile.show,
                title=tile.title,
                column=tile.column,
                params=tile.params,
            )
        document["tiles"].append(entry)
    taken: set[str] = set()
    for dashboard_filter in filters:
        name = filter_name(dashboard_filter.label, taken)
        taken.add(name)
        document["filters"].append({"name": name, **dashboard_filter.model_dump()})
    return document


def _write(deps: TurnDeps, dashboard: Artifact, action: str) -> Artifact | ValidationError:
    try:
        dashboard.full_clean(exclude=["owner", "chat", "agent", "template", "verified_by"])
    except ValidationError as exc:
        return exc
    with transaction.atomic():
        dashboard.save()
        deps.message.link_artifact(dashboard, action)
    return dashboard


def _reply(tool: str, outcome: Artifact | ValidationError | str, action: str) -> ToolReturn:
    if isinstance(outcome, str):
        activity = gettext("Dashboard not saved")
        return ToolReturn(return_value=outcome, metadata={"ok": False, "activity": activity})
    if isinstance(outcome, ValidationError):
        return ToolReturn(
            return_value=_validation_feedback(tool, outcome),
            metadata={"ok": False, "activity": gettext("Dashboard not saved (invalid)")},
        )
    tiles = len(DashboardDocument.of(outcome.document).tiles)
    created = action == Message.ArtifactAction.CREATED
    verb = "Saved" if created else "Updated"
    if created:
        activity = gettext("Saved dashboard “%(title)s”") % {"title": outcome.title}
    else:
        activity = gettext("Updated dashboard “%(title)s”") % {"title": outcome.title}
    return ToolReturn(
        return_value=(
            f"{verb} dashboard #{outcome.pk} “{outcome.title}” with {tiles} tiles. It appears "
            f"as a card in the chat that opens it; use update_dashboard with "
            f"dashboard_id={outcome.pk} to change it."
        ),
        metadata={
            "ok": True,
            "activity": activity,
            "artifact_id": outcome.pk,
            "action": action,
            "title": outcome.title,
        },
    )


def _save(deps: TurnDeps, title: str, description: str, tiles, filters):
    document = _document(deps, tiles, filters)
    if isinstance(document, str):
        return document
    dashboard = Artifact(
        artifact_type=DASHBOARD,
        title=title.strip(),
        description=description.strip(),
        document=document,
        owner=deps.owner,
        chat=deps.chat,
        agent=deps.agent,
        data_source=deps.data_source,
    )
    return _write(deps, dashboard, Message.ArtifactAction.CREATED)


async def save_dashboard(
    ctx: RunContext[TurnDeps],
    title: str,
    tiles: list[DashboardTile],
    filters: list[DashboardFilter] | None = None,
    description: str = "",
) -> ToolReturn:
    """Put saved SQL artifacts on a dashboard the user can open, filter and rearrange, e.g.
    "the weekly revenue, orders by status and the top sellers on a dashboard with a date
    filter". Save each query with save_artifact first (or find one with search_artifacts).

    For a date filter, give the artifacts date parameters with the same names (e.g.
    start_date and end_date) and one filter {"label": "Order date", "kind": "date_range",
    "params": ["start_date", "end_date"]}: it fills them in every tile that declares them.

    Args:
        title: The dashboard's name, e.g. "Sales overview".
        tiles: The tiles in reading order (left to right, top to bottom).
        filters: Filters over the tiles' parameters.
        description: One or two sentences on what the dashboard is for.
    """
    outcome = await sync_to_async(_save)(ctx.deps, title, description, tiles, filters or [])
    return _reply("save_dashboard", outcome, Message.ArtifactAction.CREATED)


def _update(deps: TurnDeps, dashboard_id: int, title, description, tiles, filters):
    dashboard = (
        Artifact.objects.filter(pk=dashboard_id, chat=deps.chat, artifact_type=DASHBOARD)
        .order_by()
        .first()
    )
    if dashboard is None:
        return (
            f"Dashboard #{dashboard_id} is out of reach: you can only update dashboards saved "
            "in this chat. Use save_dashboard to make a new one."
        )
    current = DashboardDocument.of(dashboard.document).dump()
    if tiles is not None or filters is not None:
        document = _document(deps, tiles or [], filters or [])
        if isinstance(document, str):
            return document
        if tiles is None:
            document["tiles"] = current["tiles"]
        if filters is None:
            document["filters"] = current["filters"]
        dashboard.document = document
    if title is not None:
        dashboard.title = title.strip()
    if description is not None:
        dashboard.description = description.strip()
    return _write(deps, dashboard, Message.ArtifactAction.UPDATED)


async def update_dashboard(
    ctx: RunContext[TurnDeps],
    dashboard_id: int,
    title: str | None = None,
    tiles: list[DashboardTile] | None = None,
    filters: list[DashboardFilter] | None = None,
    description: str | None = None,
) -> ToolReturn:
    """Change a dashboard saved earlier in this chat. Give only what changes; tiles and
    filters, when given, replace the old ones whole.

    Args:
        dashboard_id: The id save_dashboard reported.
        title: New title.
        tiles: All its tiles, in order.
        filters: All its filters.
        description: New description.
    """
    outcome = await sync_to_async(_update)(
        ctx.deps, dashboard_id, title, description, tiles, filters
    )
    return _reply("update_dashboard", outcome, Message.ArtifactAction.UPDATED)


SAVE_DASHBOARD = Tool(save_dashboard, takes_ctx=True, sequential=True)
UPDATE_DASHBOARD = Tool(update_dashboard, takes_ctx=True, sequential=True)
