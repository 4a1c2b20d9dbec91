from __future__ import annotations

from functools import cached_property

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, Page, Paginator
from django.db import connections
from django.db.models import F, OrderBy, QuerySet
from django.db.models.expressions import RawSQL
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

# Beyond this many matching rows, lists (pages and API) say "more than" instead of counting
# every row: a count over a large search costs more than the page it serves.
COUNT_LIMIT = 1000


def branches_of(queryset) -> list[QuerySet] | None:
    """The querysets whose union is `queryset`, each filtered so that one index serves it, or
    None for a queryset read in one piece.

    A queryset says so with a `page_branches()` method (SharedQuerySet: a list of what a user
    may see is the user's rows, everyone's and the shared ones, an OR no index serves in
    order).
    """
    page_branches = getattr(queryset, "page_branches", None)
    branches = page_branches() if page_branches is not None else None
    return branches if branches and len(branches) > 1 else None


def _ordering(queryset: QuerySet) -> list[OrderBy]:
    terms = list(queryset.query.order_by or queryset.model._meta.ordering or ["pk"])
    ordering = []
    for term in terms:
        if isinstance(term, str):
            term = F(term.removeprefix("-")).desc() if term.startswith("-") else F(term).asc()
        elif not isinstance(term, OrderBy):
            term = term.asc()
        ordering.append(term)
    return ordering


def page_pks(queryset: QuerySet, start: int, stop: int) -> list:
    """The pks of `queryset[start:stop]`, in its order (see page_subquery)."""
    subquery = page_subquery(queryset, start, stop)
    if subquery is None:
        return list(queryset.values_list("pk", flat=True)[start:stop])
    if not isinstance(subquery, RawSQL):
        return subquery
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(subquery.sql, subquery.params)
        return [row[0] for row in cursor.fetchall()]


def page_subquery(queryset: QuerySet, start: int, stop: int) -> RawSQL | list | None:
    """The pks of `queryset[start:stop]` as SQL, for a queryset made of branches (None for
    one read in one piece).

    It is the UNION of each branch's first `stop` rows, each read off its own index, sorted
    and cut once more: `stop` index entries a branch instead of every visible row sorted.
    """
    branches = branches_of(queryset)
    if branches is None:
        return None
    ordering = _ordering(queryset)
    keys = {f"page_key_{n}": term.expression for n, term in enumerate(ordering)}
    parts, params = [], []
    for n, branch in enumerate(branches):
        rows = branch.annotate(page_pk=F("pk"), **keys).order_by(*ordering)
        try:
            sql, branch_params = rows.values_list("page_pk", *keys)[:stop].query.sql_with_params()
        except EmptyResultSet:
            continue  # a branch that a filter rules out (such as `pk__in=[]`)
        parts.append(f"SELECT * FROM ({sql}) AS page_branch_{n}")
        params.extend(branch_params)
    if not parts:
        return []  # every branch ruled out: no rows (pk__in=[] says so without SQL)
    quote = connections[queryset.db].ops.quote_name
    order = []
    for name, term in zip(keys, ordering, strict=True):
        direction = " DESC" if term.descending else " ASC"
        nulls = " NULLS LAST" if term.nulls_last else " NULLS FIRST" if term.nulls_first else ""
        order.append(f"{quote(name)}{direction}{nulls}")
    sql = (
        f"SELECT {quote('page_pk')} FROM ({' UNION '.join(parts)}) AS page_union "
        f"ORDER BY {', '.join(order)} LIMIT {max(0, int(stop) - int(start))} OFFSET {int(start)}"
    )
    return RawSQL(sql, params)


def count_up_to(queryset: QuerySet, limit: int) -> int:
    """min(queryset.count(), limit): a branched queryset counts the union of each branch's
    first `limit` rows, each read off its own index."""
    branches = branches_of(queryset)
    if branches is None:
        return queryset.order_by()[:limit].count()
    parts, params = [], []
    for n, branch in enumerate(branches):
        try:
            sql, branch_params = branch.order_by().values_list("pk")[:limit].query.sql_with_params()
        except EmptyResultSet:
            continue  # a branch that a filter rules out (such as `pk__in=[]`)
        parts.append(f"SELECT * FROM ({sql}) AS count_branch_{n}")
        params.extend(branch_params)
    if not parts:
        return 0
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({' UNION '.join(parts)}) AS count_union", params)
        return min(cursor.fetchone()[0], limit)


class IdsFirstPage(Page):
    """A page that knows whether another follows even when the total is not counted."""

    # Set by IdsFirstPaginator when the count stopped at its limit; None: count from the total.
    more: bool | None = None

    def has_next(self) -> bool:
        return super().has_next() if self.more is None else self.more

    def next_page_number(self) -> int:
        if self.more is None:
            return super().next_page_number()
        if not self.more:
            raise EmptyPage("That page contains no results")
        return self.number + 1

    def previous_page_number(self) -> int:
        if self.more is None or self.number <= 1:
            return super().previous_page_number()
        return self.number - 1  # known to exist, without asking the database again

    def end_index(self) -> int:
        if self.more is None:
            return super().end_index()
        return self.start_index() + len(self.object_list) - 1


class IdsFirstPaginator(Paginator):
    """Pages of a long queryset that cost about the same deep in the list as at its start.

    Past the first page, a page is read in two queries: the ids of its rows (OFFSET then
    walks the sort's index and nothing else), then those rows with their joins and
    annotations. In one query the database would join, and compute correlated subqueries
    in the SELECT list (PostgreSQL does), for every row that OFFSET skips.

    With `count_limit`, rows are counted only up to that limit: counting every row a search
    matches reads them all, where a page of 25 needs a few hundred. `count_is_exact` then
    says whether `count` is the total ("more than 1,000" otherwise); pages past the limit
    stay reachable by number, and a number past the real end goes to the last page.
    """

    count_limit: int | None = None

    def __init__(self, object_list, per_page, *, count_limit: int | None = None, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        if count_limit is not None:
            self.count_limit = count_limit
        self._counted_all = self.count_limit is None
        self._probed: dict[int, list] = {}

    @cached_property
    def count(self) -> int:
        if self.count_limit is None:
            return super().count
        return count_up_to(self.object_list, self.count_limit + 1)

    @property
    def count_is_exact(self) -> bool:
        return self._counted_all or self.count <= self.count_limit

    def validate_number(self, number) -> int:
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.count_is_exact or int(number) < 1:
                raise
        number = int(number)
        if self._ids((number - 1) * self.per_page):
            return number
        # Past the end of the list: only now is the total worth counting, to go to the
        # real last page.
        self.count_all()
        return super().validate_number(number)

    def count_all(self) -> None:
        """Count every row after all (to know the last page)."""
        if not self._counted_all:
            self.count = self.object_list.count()
            self._counted_all = True
            self.__dict__.pop("num_pages", None)

    def page(self, number) -> IdsFirstPage:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        exact = self.count_is_exact
        if exact and top + self.orphans >= self.count:
            top = self.count
        size = top - bottom
        if bottom == 0:
            # No row is skipped: one query, with one row more to tell whether a page follows
            # (of a queryset made of branches: the rows whose pks their UNION picks).
            stop = size + (0 if exact else 1)
            picked = page_subquery(self.object_list, 0, stop)
            if picked is None:
                rows = list(self.object_list[:stop])
            else:
                rows = list(self.object_list.filter(pk__in=picked))
            more = len(rows) > size
        else:
            ids = self._ids(bottom)
            more = len(ids) > size
            by_id = {row.pk: row for row in self.object_list.filter(pk__in=ids[:size]).order_by()}
            rows = [by_id[pk] for pk in ids[:size] if pk in by_id]
        page = IdsFirstPage(rows[:size], number, self)
        if not exact:
            page.more = more
        return page

    def _ids(self, bottom: int) -> list:
        """The ids of the page starting at row `bottom`, plus the next page's first id when
        the total is not known (it says whether a page follows)."""
        if bottom not in self._probed:
            extra = 0 if self.count_is_exact else 1
            stop = bottom + self.per_page + extra
            self._probed[bottom] = page_pks(self.object_list, bottom, stop)
        return self._probed[bottom]


class PageNumberPagination(pagination.PageNumberPagination):
    """Page-number pagination whose page size a client may choose, up to a cap."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200


class CountedToLimitPaginator(IdsFirstPaginator):
    count_limit = COUNT_LIMIT


class IdsFirstPagination(PageNumberPagination):
    """Page numbers for long lists: deep pages read their rows by id, and rows are counted
    up to 1,000 only (IdsFirstPaginator); `count` is null beyond that."""

    django_paginator_class = CountedToLimitPaginator

    def get_page_number(self, request, paginator: IdsFirstPaginator):
        page_number = request.query_params.get(self.page_query_param) or 1
        if page_number in self.last_page_strings:
            paginator.count_all()
        return super().get_page_number(request, paginator)

    def get_paginated_response(self, data) -> Response:
        paginator = self.page.paginator
        return Response(
            {
                "count": paginator.count if paginator.count_is_exact else None,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": f"How many rows match; null when more than "
            f"{CountedToLimitPaginator.count_limit:,} do (they are not counted: follow "
            "`next`).",
        }
        return response


class StableCursorPagination(pagination.CursorPagination):
    """DRF's cursor pagination, ordered as the list's ordering filter says, with the id as
    the tie-break so rows that share a value keep one order from page to page."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        # Without an ordering filter (or its parameter), the model's own order.
        self.ordering = tuple(queryset.model._meta.ordering) or ("-pk",)
        ordering = super().get_ordering(request, queryset, view)
        first = ordering[0].removeprefix("-")
        if first != "pk" and queryset.model._meta.get_field(first).null:
            # A position cannot be an empty value: DRF would compare with NULL.
            raise ValidationError(
                {"cursor": [f"Cursor pages cannot be ordered by {first}; use page numbers."]}
            )
        if not any(term.removeprefix("-") in {"id", "pk"} for term in ordering):
            ordering = (*ordering, "-id" if ordering[0].startswith("-") else "id")
        return ordering


class PageNumberOrCursorPagination(IdsFirstPagination):
    """Page numbers, or with `?cursor=` (empty for the first page) cursor pages, which cost
    the same however deep they go: each follows from where the last one stopped instead of
    counting rows to skip. Both answer {count, next, previous, results}; count is null for
    cursor pages, which never count."""

    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.cursor = None
        if self.cursor_query_param in request.query_params:
            self.cursor = StableCursorPagination()
            return self.cursor.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data) -> Response:
        if self.cursor is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": None,
                "next": self.cursor.get_next_link(),
                "previous": self.cursor.get_previous_link(),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Cursor pages instead of page numbers: empty for the first "
                "page, then the cursor in `next` or `previous`. Deep pages cost the same as "
                "the first; `count` is null. Not with ordering=last_executed_at.",
                "schema": {"type": "string"},
            },
        ]
