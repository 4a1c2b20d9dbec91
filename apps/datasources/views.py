"""The schema browser: the configured data sources and, for each, its tables with their
columns, what joins to what, roughly how many rows and a few sample rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.http import HtmxHttpRequest, page_or_partial
from apps.datasources import schema
from apps.datasources.access import is_usable_source, may_use_source, unknown_source_message
from apps.datasources.executor import QueryFailed
from apps.datasources.schema import ColumnInfo, ForeignKeyInfo, SampleRows, TableInfo
from apps.datasources.sources import (
    DataSource,
    all_data_sources,
    default_data_source_name,
    get_data_source,
)

FILTER_MAX_LENGTH = 100


@dataclass(frozen=True)
class Reference:
    """One end of a foreign key, as a page shows it: `table.column`."""

    table: str
    columns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.table}.{', '.join(self.columns)}"


@dataclass
class TableMatch:
    """A table as the page shows it: the columns whose name matched the filter, if any,
    the keys into it from other tables and its sample rows."""

    info: TableInfo
    matched_columns: frozenset[str] = frozenset()
    referenced_by: list[Reference] = field(default_factory=list)
    sample: SampleRows | None = None

    @property
    def column_count(self) -> int:
        return len(self.info.columns)

    @property
    def composite_keys(self) -> list[ForeignKeyInfo]:
        """Keys of several columns, which the column rows cannot show one by one."""
        return [key for key in self.info.foreign_keys if len(key.columns) > 1]

    @property
    def rows(self) -> list[tuple[ColumnInfo, ForeignKeyInfo | None]]:
        """(column, its single-column foreign key or None), in column order."""
        return [(column, self.info.foreign_key_for(column.name)) for column in self.info.columns]


def filter_tables(tables: list[TableInfo], query: str) -> list[TableMatch]:
    """The tables whose name, or one of whose columns' names, contains `query` (any case)."""
    needle = query.strip().casefold()
    if not needle:
        return [TableMatch(table) for table in tables]
    matches = []
    for table in tables:
        columns = frozenset(c.name for c in table.columns if needle in c.name.casefold())
        if columns or needle in table.name.casefold():
            matches.append(TableMatch(table, columns))
    return matches


@login_required
@require_GET
def data_source_list(request: HtmxHttpRequest) -> HttpResponse:
    default = default_data_source_name()
    sources = [
        source
        for name, source in sorted(all_data_sources().items())
        if may_use_source(request.user, name)
    ]
    return render(
        request,
        "datasources/data_source_list.html",
        # Where a source lives (host, user, file) is for operators; passwords never show.
        {"sources": sources, "default": default, "show_location": request.user.is_staff},
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def data_source_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """A data source's tables and columns, filtered by `?q=` (live with htmx)."""
    source = _data_source_or_404(request.user, name)
    query = request.GET.get("q", "")[:FILTER_MAX_LENGTH]
    error = ""
    tables: list[TableInfo] = []
    try:
        # Only what the source exposes: its tables, columns and samples.
        tables = schema.list_tables(source.name)
    except QueryFailed as exc:
        # Staff also see what went wrong with the set-up; users see plain words.
        error = exc.message_for(request.user)
    matches = filter_tables(tables, query)
    _add_references(matches, tables)
    samples_shown = len(matches) <= schema.SAMPLE_TABLES_MAX
    if samples_shown:
        for match in matches:
            match.sample = schema.sample_rows(source.name, match.info)
    context = {
        "source": source,
        "is_default": source.name == default_data_source_name(),
        "query": query,
        "tables": matches,
        "table_count": len(tables),
        "column_count": sum(len(t.columns) for t in tables),
        "error": error,
        "samples_shown": samples_shown,
        "sample_tables_max": schema.SAMPLE_TABLES_MAX,
        "sample_size": schema.SAMPLE_ROWS,
    }
    return render(
        request,
        page_or_partial(request, "datasources/data_source_detail.html", "tables"),
        context,
        # Unreachable: the page says why, with the status a monitor would expect.
        status=503 if error else 200,
    )


def _add_references(matches: list[TableMatch], tables: list[TableInfo]) -> None:
    """Fill each match's `referenced_by`: the foreign keys of every table that point at it."""
    incoming: dict[str, list[Reference]] = {}
    for table in tables:
        for key in table.foreign_keys:
            incoming.setdefault(key.referenced_table, []).append(
                Reference(table.name, tuple(key.columns))
            )
    for match in matches:
        match.referenced_by = incoming.get(match.info.name, [])


def _data_source_or_404(user, name: str) -> DataSource:
    # A source the user may not use answers exactly like one that does not exist.
    if not is_usable_source(user, name):
        raise Http404(unknown_source_message(user, name))
    return get_data_source(name)
