"""The dashboard type: a grid of tiles, each an SQL artifact (its chart, its table, or one
big number with the change against the previous period) or a Markdown text, under filters
that fill the tiles' parameters.

The document (`Artifact.document`, checked by `DashboardDocument`)::

    {"tiles": [
        {"id": "t1", "kind": "artifact", "artifact": "<uid>", "show": "chart", "width": 6,
         "title": "", "params": {"status": "paid"}, "column": ""},
        {"id": "t2", "kind": "text", "text": "**Markdown**", "width": 12}],
     "filters": [
        {"name": "period", "kind": "date_range", "label": "Dates",
         "params": ["start_date", "end_date"], "default": ["start_of_month -1 month", "today"]},
        {"name": "country", "kind": "value", "label": "Country", "params": ["country"]}]}

Tiles name their artifact by `uid`, which bundles keep across sites. `width` is out of the
grid's 12 columns (every tile takes the whole width on a phone). A filter applies to the
tiles whose artifact declares all its parameters (a date range fills a start and an end), and
its values travel in the page's URL: `?period_from=...&period_to=...&country=...`. A tile
takes its artifact's defaults, then its own `params`, then the filters' values.

Sharing: whoever may see the dashboard sees the tiles whose artifacts they may see
(`Artifact.objects.visible_to`), and a note in place of each other one. Opening the page asks
a fixed number of queries whatever the number of tiles; each tile then loads itself (its own
request, run and loading state), so the tiles run side by side.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode

import pydantic
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, model_validator

from apps.llm_artifact.types import ArtifactTypeSpec, register, sql_names

MAX_TILES = 24
MAX_FILTERS = 6
WIDTHS = (3, 4, 6, 8, 12)
# Rows a table tile lists; the artifact page has the rest.
TILE_ROWS = 12
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"

Width = Literal[3, 4, 6, 8, 12]
Show = Literal["chart", "table", "number"]
ParamValue = str | int | float | bool | None


class TileDocument(BaseModel):
    """One tile as the document stores it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,15}$")
    kind: Literal["artifact", "text"] = "artifact"
    artifact: str = ""  # the uid of an SQL artifact (kind "artifact")
    show: Show = "table"
    # A number tile's column (the first numeric one when empty).
    column: str = Field("", max_length=200)
    # Fixed values for the artifact's parameters, under the filters' values.
    params: dict[str, ParamValue] = Field(default_factory=dict)
    text: str = Field("", max_length=20_000)  # kind "text": Markdown
    title: str = Field("", max_length=200)  # "" shows the artifact's title
    width: Width = 6

    @model_validator(mode="after")
    def _kind_has_its_content(self) -> TileDocument:
        if self.kind == "artifact":
            try:
                self.artifact = str(uuid.UUID(self.artifact))
            except ValueError:
                message = gettext("an artifact tile needs the uid of an SQL artifact")
                raise ValueError(message) from None
        elif not self.text.strip():
            raise ValueError(gettext("a text tile needs its text"))
        return self


class FilterDocument(BaseModel):
    """A dashboard filter: a date range or a single value, and the parameters it fills."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    kind: Literal["date_range", "value"]
    label: str = Field(min_length=1, max_length=100)
    params: list[str] = Field(min_length=1, max_length=2)
    # A date range's [start, end] (dates or relative dates, "start_of_month -1 month"); a
    # value filter's [value]; [] leaves each tile its own default.
    default: list[str] = Field(default_factory=list, max_length=2)

    @model_validator(mode="after")
    def _shape(self) -> FilterDocument:
        for name in self.params:
            if not re.match(IDENTIFIER, name):
                raise ValueError(gettext("%(name)r is not a parameter name") % {"name": name})
        if self.kind == "date_range" and len(self.params) != 2:
            raise ValueError(gettext("a date range fills two parameters: its start and its end"))
        if self.kind == "date_range" and len(self.default) not in (0, 2):
            raise ValueError(gettext("a date range's default is [start, end]"))
        if self.kind == "value" and len(self.default) > 1:
            raise ValueError(gettext("a value filter's default is one value"))
        return self

    @property
    def url_keys(self) -> list[str]:
        """The names of its values in the page's URL."""
        if self.kind == "date_range":
            return [f"{self.name}_from", f"{self.name}_to"]
        return [self.name]


class DashboardDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiles: list[TileDocument] = Field(default_factory=list, max_length=MAX_TILES)
    filters: list[FilterDocument] = Field(default_factory=list, max_length=MAX_FILTERS)

    @model_validator(mode="after")
    def _unique(self) -> DashboardDocument:
        ids = [tile.id for tile in self.tiles]
        if len(set(ids)) != len(ids):
            raise ValueError(gettext("two tiles have the same id"))
        keys = [key for f in self.filters for key in f.url_keys]
        if len(set(keys)) != len(keys):
            raise ValueError(gettext("two filters have the same name"))
        return self

    @classmethod
    def of(cls, document: Any) -> DashboardDocument:
        """The stored document, read (an invalid one reads as an empty dashboard: the
        model refuses to save one, so only a hand-edited row can hold it)."""
        try:
            return cls.model_validate(document or {})
        except pydantic.ValidationError:
            return cls()

    def dump(self) -> dict:
        return self.model_dump(mode="json")

    def tile(self, tile_id: str) -> TileDocument | None:
        return next((tile for tile in self.tiles if tile.id == tile_id), None)

    def new_tile_id(self) -> str:
        taken = {tile.id for tile in self.tiles}
        number = len(self.tiles) + 1
        while f"t{number}" in taken:
            number += 1
        return f"t{number}"


def filter_name(label: str, taken: set[str]) -> str:
    """A new filter's name (its key in URLs) from its label: "Order date" -> "order_date"."""
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24] or "filter"
    if not base[0].isalpha():
        base = f"f_{base}"[:24]
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


def document_problems(document: Any) -> list[str]:
    """What is wrong with a dashboard document, each message with where it is."""
    try:
        DashboardDocument.model_validate(document)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return problems
    return []


# --- filters ------------------------------------------------------------------------------


def filter_values(document: DashboardDocument, query: Any) -> dict[str, list[str]]:
    """Each filter's values from the URL's query (a QueryDict or a dict), else its default."""
    values: dict[str, list[str]] = {}
    for dashboard_filter in document.filters:
        keys = dashboard_filter.url_keys
        if any(key in query for key in keys):
            values[dashboard_filter.name] = [str(query.get(key) or "").strip() for key in keys]
        else:
            default = list(dashboard_filter.default)
            values[dashboard_filter.name] = default + [""] * (len(keys) - len(default))
    return values


def filter_query(document: DashboardDocument, values: dict[str, list[str]]) -> str:
    """The URL query that carries these filter values."""
    pairs = []
    for dashboard_filter in document.filters:
        current = values.get(dashboard_filter.name, [])
        for key, value in zip(dashboard_filter.url_keys, current, strict=False):
            pairs.append((key, value))
    return urlencode(pairs)


def applying_filters(document: DashboardDocument, artifact: Any) -> list[FilterDocument]:
    """The filters that fill parameters of `artifact`: all of each filter's parameters."""
    declared = {d.get("name") for d in artifact.query_params if isinstance(d, dict)}
    return [f for f in document.filters if set(f.params) <= declared]


def tile_params(
    document: DashboardDocument, tile: TileDocument, artifact: Any, values: dict[str, list[str]]
) -> dict[str, Any]:
    """The values a tile runs its artifact with: its own, then the filters' (blank ones
    leave the artifact's default)."""
    declared = {d.get("name") for d in artifact.query_params if isinstance(d, dict)}
    raw: dict[str, Any] = {name: v for name, v in tile.params.items() if name in declared}
    for dashboard_filter in applying_filters(document, artifact):
        current = values.get(dashboard_filter.name, [])
        for name, value in zip(dashboard_filter.params, current, strict=False):
            if value != "":
                raw[name] = value
    return raw


# --- tiles for a viewer -------------------------------------------------------------------


@dataclass
class Tile:
    """A tile as one viewer sees it."""

    doc: TileDocument
    position: int
    # The SQL artifact, when the viewer may see it (None for text tiles and hidden ones).
    artifact: Any = None
    hidden: bool = False
    filters: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def title(self) -> str:
        if self.doc.title:
            return self.doc.title
        return self.artifact.title if self.artifact is not None else ""

    @property
    def dom_id(self) -> str:
        return f"tile-{self.doc.id}"

    @property
    def grid_class(self) -> str:
        return f"col-12 col-md-{self.doc.width}"


def tiles_for(
    dashboard: Any, user: Any, document: DashboardDocument | None = None, only: str = ""
) -> list[Tile]:
    """The dashboard's tiles for `user` (the tile `only`, when given): one query for all
    their artifacts."""
    from apps.llm_artifact.models import Artifact

    document = document or DashboardDocument.of(dashboard.document)
    uids = {
        tile.artifact
        for tile in document.tiles
        if tile.kind == "artifact" and (not only or tile.id == only)
    }
    visible = {}
    if uids:
        artifacts = Artifact.objects.visible_to(user).filter(
            uid__in=uids, artifact_type__in=sql_names()
        )
        visible = {str(artifact.uid): artifact for artifact in artifacts.order_by()}
    tiles = []
    for position, doc in enumerate(document.tiles):
        if only and doc.id != only:
            continue
        tile = Tile(doc, position)
        if doc.kind == "artifact":
            tile.artifact = visible.get(doc.artifact)
            tile.hidden = tile.artifact is None
            if tile.artifact is not None:
                tile.filters = [f.name for f in applying_filters(document, tile.artifact)]
                tile.url = reverse("llm_artifact:dashboard_tile", args=[dashboard.pk, doc.id])
        tiles.append(tile)
    return tiles


# --- running a tile -----------------------------------------------------------------------


@dataclass
class TileRun:
    """A tile's run: what it shows, or why it cannot."""

    tile: Tile
    run: Any = None  # the ArtifactRun
    result: Any = None  # the QueryResult (None when the run failed)
    # Bad or missing parameter values: nothing ran.
    problems: list[str] = field(default_factory=list)
    # A number tile: the value, the previous period's and the change between them.
    number: Any = None
    number_column: str = ""
    previous: Any = None
    change: float | None = None
    previous_range: tuple[str, str] | None = None

    @property
    def number_text(self) -> str:
        return _number_text(self.number)

    @property
    def previous_text(self) -> str:
        return _number_text(self.previous)

    @property
    def change_text(self) -> str:
        """The change as a signed percentage, "+12.5%"."""
        return "" if self.change is None else f"{self.change * 100:+.1f}%"


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    if _is_number(value):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return f"{int(number):,}"
        return f"{number:,.2f}"
    return str(value)


def run_tile(
    document: DashboardDocument, tile: Tile, user: Any, values: dict[str, list[str]]
) -> TileRun:
    """Run a tile's artifact with its values (a recorded run, as every run is); a number
    tile under a date range also runs the period before it, for the change."""
    from django.core.exceptions import ValidationError

    from apps.llm_artifact.services import run_artifact

    outcome = TileRun(tile)
    raw = tile_params(document, tile.doc, tile.artifact, values)
    try:
        outcome.run, outcome.result = run_artifact(tile.artifact, user=user, raw_params=raw)
    except ValidationError as exc:
        outcome.problems = [
            f"{name}: {message}" if name != "__all__" else message
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
        return outcome
    if tile.doc.show == "number" and outcome.result is not None:
        _number(outcome, document, raw, user)
    return outcome


def _number(outcome: TileRun, document: DashboardDocument, raw: dict, user: Any) -> None:
    from django.core.exceptions import ValidationError

    from apps.llm_artifact.services import run_artifact

    result = outcome.result
    column = _number_column(result, outcome.tile.doc.column)
    if column is None or not result.rows:
        return
    outcome.number_column = result.columns[column].name
    outcome.number = result.rows[0][column]
    previous = _previous_period(document, outcome.tile.artifact, outcome.run.params)
    if previous is None:
        return
    earlier = dict(raw)
    earlier.update(previous)
    try:
        _, before = run_artifact(outcome.tile.artifact, user=user, raw_params=earlier)
    except ValidationError:  # the number stands without its comparison
        return
    if before is None or not before.rows or len(before.rows[0]) <= column:
        return
    outcome.previous = before.rows[0][column]
    outcome.previous_range = tuple(str(value) for value in previous.values())
    if _is_number(outcome.number) and _is_number(outcome.previous) and outcome.previous:
        outcome.change = (float(outcome.number) - float(outcome.previous)) / abs(
            float(outcome.previous)
        )


def _number_column(result: Any, wanted: str) -> int | None:
    names = [column.name for column in result.columns]
    if wanted:
        return names.index(wanted) if wanted in names else None
    for index, column in enumerate(result.columns):
        if column.type in ("integer", "number"):
            return index
    if result.rows:
        for index, value in enumerate(result.rows[0]):
            if _is_number(value):
                return index
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _previous_period(
    document: DashboardDocument, artifact: Any, params: dict
) -> dict[str, str] | None:
    """The date range filter's parameters moved back by the range's length: the period
    before the one shown (a month after a month, a week after a week)."""
    for dashboard_filter in applying_filters(document, artifact):
        if dashboard_filter.kind != "date_range":
            continue
        start_name, end_name = dashboard_filter.params
        try:
            start = dt.date.fromisoformat(str(params.get(start_name))[:10])
            end = dt.date.fromisoformat(str(params.get(end_name))[:10])
        except ValueError:
            return None
        length = end - start
        if length.days <= 0:
            return None
        return {start_name: (start - length).isoformat(), end_name: start.isoformat()}
    return None


# The buttons on each tile for its editors (views_dashboard.TILE_VERBS does what they say):
# the keyboard's way to arrange what drag and drop arranges.
TILE_BUTTONS = [
    ("up", "bi-arrow-left", _("Move earlier")),
    ("down", "bi-arrow-right", _("Move later")),
    ("narrower", "bi-dash-lg", _("Narrower")),
    ("wider", "bi-plus-lg", _("Wider")),
    ("remove", "bi-x-lg", _("Remove")),
]


# --- the type -----------------------------------------------------------------------------


class DashboardType(ArtifactTypeSpec):
    name = "dashboard"
    label = _("Dashboard")
    position = 10
    uses_sql = False
    content_fields = ("document",)
    page_template = "llm_artifact/types/dashboard.html"
    card_template = "llm_artifact/types/dashboard_card.html"
    row_template = "llm_artifact/types/dashboard_row.html"
    admin_template = "llm_artifact/types/dashboard_admin.html"
    agent_tools = (
        "apps.llm_chat.agent.tools_dashboard.SAVE_DASHBOARD",
        "apps.llm_chat.agent.tools_dashboard.UPDATE_DASHBOARD",
    )

    def default_document(self) -> dict:
        return DashboardDocument().dump()

    def clean(self, artifact: Any, errors: dict) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        problems = document_problems(artifact.document)
        if problems:
            found["document"] = problems
        if artifact.sql_query.strip():
            found["sql_query"] = [
                gettext("A dashboard has no SQL of its own: its tiles are SQL artifacts.")
            ]
        return found

    def page_context(self, request: Any, artifact: Any) -> dict:
        from apps.llm_artifact.forms_dashboard import FilterForm, TileForm

        document = DashboardDocument.of(artifact.document)
        values = filter_values(document, request.GET)
        tiles = tiles_for(artifact, request.user, document)
        context = {
            "dashboard": document,
            "tiles": tiles,
            "hidden_count": sum(1 for tile in tiles if tile.hidden),
            "filter_fields": _filter_fields(document, values),
            "filter_query": filter_query(document, values),
        }
        if request.user.has_perm("artifacts.change", artifact):
            context["tile_verbs"] = TILE_BUTTONS
            context["tile_form"] = TileForm(user=request.user)
            context["filter_form"] = FilterForm()
        return context

    def card_context(self, request: Any, card: Any) -> dict:
        return {"dashboard": DashboardDocument.of(card.artifact.document)}

    def admin_context(self, artifact: Any) -> dict:
        from apps.llm_artifact.models import Artifact

        document = DashboardDocument.of(artifact.document)
        uids = {tile.artifact for tile in document.tiles if tile.kind == "artifact"}
        found = {str(a.uid): a for a in Artifact.objects.filter(uid__in=uids).order_by()}
        rows = [(tile, found.get(tile.artifact)) for tile in document.tiles]
        return {"dashboard": document, "rows": rows}

    def export_document(self, artifact: Any) -> dict:
        return DashboardDocument.of(artifact.document).dump()

    def import_problems(self, document: Any, bundle_uids: set[str]) -> list[str]:
        from apps.llm_artifact.models import Artifact

        if document_problems(document):
            return []  # the model's check says what is wrong
        wanted = {
            tile.artifact
            for tile in DashboardDocument.of(document).tiles
            if tile.kind == "artifact" and tile.artifact not in bundle_uids
        }
        found = Artifact.objects.filter(uid__in=wanted).values_list("uid", flat=True)
        here = {str(uid) for uid in found}
        return [
            gettext("a tile shows the artifact %(uid)s, which is neither here nor in the bundle.")
            % {"uid": uid}
            for uid in sorted(wanted - here)
        ]

    def run(self, artifact: Any, *, user: Any, raw_params: dict) -> list[TileRun]:
        """Run every tile `user` may see, with the filter values in `raw_params` (the
        page's URL keys; the filters' defaults for those left out), one after another."""
        document = DashboardDocument.of(artifact.document)
        values = filter_values(document, raw_params)
        return [
            run_tile(document, tile, user, values)
            for tile in tiles_for(artifact, user, document)
            if tile.artifact is not None
        ]


@dataclass(frozen=True)
class FilterField:
    """An input of the filter bar."""

    filter: str
    key: str
    label: str
    value: str
    input_type: str


def _filter_fields(document: DashboardDocument, values: dict[str, list[str]]) -> list[FilterField]:
    fields = []
    for dashboard_filter in document.filters:
        current = values.get(dashboard_filter.name, [])
        for index, key in enumerate(dashboard_filter.url_keys):
            label = dashboard_filter.label
            if dashboard_filter.kind == "date_range":
                label = (gettext("%(label)s from") if index == 0 else gettext("%(label)s to")) % {
                    "label": dashboard_filter.label
                }
            value = current[index] if index < len(current) else ""
            # A relative default ("today -7 days") shows as text; a date as a date input.
            is_date = dashboard_filter.kind == "date_range" and (not value or _is_iso(value))
            fields.append(
                FilterField(dashboard_filter.name, key, label, value, "date" if is_date else "text")
            )
    return fields


def _is_iso(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


TYPE = register(DashboardType())
