"""Data sources over the API: what is configured, what its schema holds, and whether a
piece of SQL would be allowed to run there (the guard's verdict; nothing runs)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.datasources import schema
from apps.datasources.access import (
    exposure_of,
    is_usable_source,
    may_use_source,
    unknown_source_message,
)
from apps.datasources.api.serializers import (
    DataSourceSchemaSerializer,
    DataSourceSerializer,
    SchemaQuerySerializer,
    SQLCheckResultSerializer,
    SQLCheckSerializer,
    SQLFormatResultSerializer,
    SQLValidateSerializer,
)
from apps.datasources.check import check, format_sql
from apps.datasources.executor import QueryFailed
from apps.datasources.guard import SQLRejected
from apps.datasources.sources import (
    NAME_RE,
    DataSource,
    all_data_sources,
    default_data_source_name,
    get_data_source,
)


class DataSourceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The data source cannot be reached.")
    default_code = "data_source_unavailable"


NAME_PARAMETER = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description="The data source's name."
)


class DataSourceViewSet(viewsets.ViewSet):
    """The configured data sources, for every signed-in user."""

    lookup_field = "name"
    # The name rule without its anchors: the router anchors the URL pattern itself.
    lookup_value_regex = NAME_RE.pattern.removeprefix("^").removesuffix("$")

    @extend_schema(
        summary="List the data sources artifacts can run on",
        description="Only the sources the user may use (operators grant them to groups).",
        responses=DataSourceSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        default = default_data_source_name()
        staff = request.user.is_staff
        data = [
            _describe(source, is_default=source.name == default, show_location=staff)
            for name, source in sorted(all_data_sources().items())
            if may_use_source(request.user, name)
        ]
        return Response(DataSourceSerializer(data, many=True).data)

    @extend_schema(
        summary="The tables and columns of a data source",
        description="Tables and views with their columns' declared types, their foreign keys "
        "(what joins to what) and approximate row counts, as the agent sees them. With "
        f"`?samples=true`, also the first {schema.SAMPLE_ROWS} rows of each of the first "
        f"{schema.SAMPLE_TABLES_MAX} tables, read through the read-only executor within the "
        "source's time limit. Read fresh at most once a minute. SQL editors complete table "
        "and column names (with their types) from this answer.",
        parameters=[NAME_PARAMETER, SchemaQuerySerializer],
        responses={
            200: DataSourceSchemaSerializer,
            400: OpenApiResponse(description="`samples` is not a boolean."),
            404: OpenApiResponse(
                description="No data source has that name, or the user may not use it."
            ),
            503: OpenApiResponse(description="The data source cannot be reached."),
        },
    )
    # Not named `schema`: that attribute of a view is its OpenAPI generator.
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def tables(self, request: Request, name: str) -> Response:
        query = SchemaQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # A source the user may not use answers exactly like one that does not exist.
        if not is_usable_source(request.user, name):
            raise NotFound(unknown_source_message(request.user, name))
        source = get_data_source(name)
        try:
            # Only what the source exposes: its tables, columns and samples.
            tables = schema.list_tables(source.name)
        except QueryFailed as exc:
            raise DataSourceUnavailable(exc.message_for(request.user)) from None
        data = DataSourceSchemaSerializer({"data_source": name, "tables": tables}).data
        if query.validated_data["samples"]:
            for index, (table, info) in enumerate(zip(data["tables"], tables, strict=True)):
                table["sample"] = _sample(source.name, info, index)
        return Response(data)


def _sample(source: str, table: schema.TableInfo, index: int) -> dict | None:
    if index >= schema.SAMPLE_TABLES_MAX:
        return None
    sample = schema.sample_rows(source, table)
    return {
        "columns": sample.columns,
        "rows": [list(row) for row in sample.rows],
        "error": sample.error or None,
    }


def _describe(source: DataSource, *, is_default: bool, show_location: bool) -> dict:
    return {
        "name": source.name,
        "engine": source.engine,
        "dialect": source.dialect,
        "is_default": is_default,
        "timeout_seconds": source.timeout_seconds,
        "max_rows": source.max_rows,
        "export_max_rows": source.export_max_rows,
        # A file path or a server address is for operators, not every user.
        "location": source.display_location if show_location else None,
    }


class SQLViewSet(viewsets.ViewSet):
    """SQL checks and formatting that never run the SQL (the editor's while-you-type help)."""

    @extend_schema(
        summary="Check SQL as the editor does",
        description="Applies the SQL guard in the data source's dialect (one statement that "
        "only reads, no state-changing or dangerous functions, within the length limit, "
        "reading only the tables and columns the source exposes) and "
        "reports, with their positions: parse errors, references to tables or columns that "
        "do not exist in the data source with a did-you-mean suggestion (resolved through "
        "aliases, CTEs and subqueries; what cannot be followed is not flagged), and the "
        ":name parameters used. With `declarations`, also the parameters used but not "
        "declared and those declared but no longer used. Nothing is run. A rejected or "
        "flawed statement is still a 200 (`valid` false, or `diagnostics`); only a "
        "malformed request (no `sql`, an unknown data source) is a 400.",
        request=SQLValidateSerializer,
        responses={200: SQLCheckResultSerializer},
    )
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        serializer = SQLValidateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = get_data_source(data["data_source"])
        result = check(data["sql"], source, data["declarations"], exposure=exposure_of(source.name))
        return Response(SQLCheckResultSerializer(result.as_dict()).data)

    @extend_schema(
        summary="Pretty-print SQL for a data source's dialect",
        description="Formats the SQL with sqlglot in the data source's dialect, keeping "
        ":name parameters as written. Nothing is run and nothing is checked beyond parsing: "
        "SQL that cannot be parsed is a 400 with the reason under `sql`.",
        request=SQLCheckSerializer,
        responses={200: SQLFormatResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="format", url_name="format")
    def pretty(self, request: Request) -> Response:
        serializer = SQLCheckSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        source = get_data_source(serializer.validated_data["data_source"])
        try:
            formatted = format_sql(serializer.validated_data["sql"], source.dialect)
        except SQLRejected as exc:
            raise ValidationError({"sql": [exc.message]}) from None
        return Response(SQLFormatResultSerializer({"sql": formatted}).data)
