"""The schema browser: the configured data sources and the tables and columns of each."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.http import HtmxHttpRequest, page_or_partial
from apps.datasources import schema
from apps.datasources.executor import QueryFailed
from apps.datasources.schema import TableInfo
from apps.datasources.sources import (
    DataSource,
    UnknownDataSource,
    all_data_sources,
    default_data_source_name,
    get_data_source,
)

FILTER_MAX_LENGTH = 100


@dataclass(frozen=True)
class TableMatch:
    """A table as the filter sees it: the columns whose name matched, if any."""

    info: TableInfo
    matched_columns: frozenset[str] = frozenset()

    @property
    def column_count(self) -> int:
        return len(self.info.columns)


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
    sources = [source for _, source in sorted(all_data_sources().items())]
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
    source = _data_source_or_404(name)
    query = request.GET.get("q", "")[:FILTER_MAX_LENGTH]
    error = ""
    tables: list[TableInfo] = []
    try:
        tables = schema.list_tables(source.name)
    except QueryFailed as exc:
        # Staff also see what went wrong with the set-up; users see plain words.
        error = exc.message_for(request.user)
    matches = filter_tables(tables, query)
    context = {
        "source": source,
        "is_default": source.name == default_data_source_name(),
        "query": query,
        "tables": matches,
        "table_count": len(tables),
        "column_count": sum(len(t.columns) for t in tables),
        "error": error,
    }
    return render(
        request,
        page_or_partial(request, "datasources/data_source_detail.html", "tables"),
        context,
        # Unreachable: the page says why, with the status a monitor would expect.
        status=503 if error else 200,
    )


def _data_source_or_404(name: str) -> DataSource:
    try:
        return get_data_source(name)
    except UnknownDataSource as exc:
        raise Http404(str(exc)) from None
