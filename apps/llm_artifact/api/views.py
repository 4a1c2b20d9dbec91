from __future__ import annotations

import math
from typing import Any

import orjson
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.sharing import (
    SCOPE_PARAMETER,
    HasObjectPermission,
    TransferSerializer,
    list_scope,
    transfer,
)
from apps.core.pagination import PageNumberOrCursorPagination, PageNumberPagination
from apps.core.parsers import JSONParser
from apps.datasources.executor import ColumnType, QueryFailed, QueryResult, ResultColumn
from apps.datasources.exports import EXPORT_FORMATS
from apps.llm_artifact import types as artifact_types
from apps.llm_artifact.api.bundles import BundleActions
from apps.llm_artifact.api.filters import (
    ArtifactFilter,
    ArtifactSearchFilter,
    StableOrderingFilter,
)
from apps.llm_artifact.api.jobs import (
    BACKGROUND_PARAMETER,
    ArtifactJobSerializer,
    accepted,
    wants_background,
)
from apps.llm_artifact.api.serializers import (
    ArtifactRunSerializer,
    ArtifactSerializer,
    ChartFailedSerializer,
    ChartQueryErrorSerializer,
    ChartQuerySerializer,
    ExecuteSerializer,
    ExportFormatErrorSerializer,
    ExportQuerySerializer,
    InstantiateInputErrorsSerializer,
    InstantiateSerializer,
    ParameterErrorsSerializer,
    PreviewFailedSerializer,
    PreviewInputErrorsSerializer,
    PreviewResultSerializer,
    PreviewSerializer,
    QueryResultSerializer,
    RunFailedSerializer,
    TagSerializer,
    VerifySerializer,
)
from apps.llm_artifact.background import start_background_export, start_background_run
from apps.llm_artifact.charts import ChartRenderError, render_chart, validate_visualization
from apps.llm_artifact.download import download_response
from apps.llm_artifact.models import SEARCH_FIELDS, Artifact, ArtifactRun, Tag
from apps.llm_artifact.services import (
    ExportFailed,
    RunResult,
    TemplateInputError,
    export_artifact,
    preview_sql,
    run_artifact,
    use_template,
)
from apps.llm_artifact.throttling import PreviewRunThrottle, throttled_message


class ExportNegotiation(DefaultContentNegotiation):
    """Content negotiation for the export and the chart, which answer with a file.

    There `format` names the file type (csv, json, xlsx; png, svg), where DRF would read it
    as the renderer to use and 404 on "csv"; and a client may send `Accept: text/csv`, which
    no renderer offers (a 406). So the query string and Accept are left alone, and the
    answers the view renders itself (errors) are always JSON.
    """

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next((r for r in renderers if isinstance(r, JSONRenderer)), renderers[0])
        return renderer, renderer.media_type


# What run_artifact and record_run read from the artifact.
# The sharing fields too: the run permission reads them (HasObjectPermission).
RUN_FIELDS = (
    "id",
    "owner_id",
    "visibility",
    "data_source",
    "sql_query",
    "query_params",
    "status",
)


class QueryResultRenderer(JSONRenderer):
    """The execute endpoint's JSON, written by orjson: about ten times faster than the
    standard library for a result of 1,000 rows, and it writes NaN and Infinity as null,
    which is what _json_safe_rows does, without a scan of every row in Python.

    What orjson refuses (integers beyond 64 bits from a PostgreSQL numeric, lazily
    translated error messages) goes through DRF's renderer, after _json_safe_rows.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        try:
            return orjson.dumps(data)
        except orjson.JSONEncodeError:
            if isinstance(data, dict) and isinstance(data.get("rows"), list):
                columns = [ResultColumn(c["name"], c["type"]) for c in data["columns"]]
                result = QueryResult(columns, data["rows"], len(data["rows"]), False, 0)
                data = {**data, "rows": _json_safe_rows(result)}
            return super().render(data, accepted_media_type, renderer_context)


EXECUTE_ERROR = PolymorphicProxySerializer(
    component_name="ExecuteError",
    serializers=[ParameterErrorsSerializer, RunFailedSerializer],
    resource_type_field_name=None,
)
EXPORT_ERROR = PolymorphicProxySerializer(
    component_name="ExportError",
    serializers=[ExportFormatErrorSerializer, ParameterErrorsSerializer, RunFailedSerializer],
    resource_type_field_name=None,
)
CHART_ERROR = PolymorphicProxySerializer(
    component_name="ChartError",
    serializers=[
        ChartQueryErrorSerializer,
        ParameterErrorsSerializer,
        RunFailedSerializer,
        ChartFailedSerializer,
    ],
    resource_type_field_name=None,
)
CHART_CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
# The chart endpoint's own query parameters; the others are the artifact's parameter values.
CHART_QUERY_NAMES = {"format", "width", "height", "scale"}
# The artifact's parameter values on a GET's query string (export, chart).
QUERY_PARAMS = OpenApiParameter(
    "params",
    type={"type": "object", "additionalProperties": {"type": "string"}},
    style="form",
    explode=True,
    description="The artifact's parameter values, each as its own query "
    "parameter (`?status=paid`); left out, a parameter takes its default.",
)
# The actions that answer with the artifact itself (ArtifactSerializer, with its shares).
SHOWS_ARTIFACT = {"list", "retrieve", "create", "update", "partial_update", "transfer"}
EXPORT_FILE_TYPES = {
    "csv": OpenApiTypes.STR,
    "json": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    "xlsx": OpenApiTypes.BINARY,
}


INSTANTIATE_ERROR = PolymorphicProxySerializer(
    component_name="InstantiateError",
    serializers=[InstantiateInputErrorsSerializer, PreviewFailedSerializer],
    resource_type_field_name=None,
)
INSTANTIATE_FIELDS = {"data_source", "slots", "sql", "params", "title"}


def _instantiate_errors(errors: dict) -> dict:
    """The service's errors as the API documents them: other fields of the new artifact
    (its SQL as rendered, say) become non_field_errors."""
    body: dict = {}
    for key, messages in errors.items():
        if key in INSTANTIATE_FIELDS:
            body[key] = messages
        else:
            body.setdefault("non_field_errors", []).extend(messages)
    return body


# The actions on an artifact's SQL: only the SQL types have them.
SQL_ACTIONS = frozenset({"execute", "export", "chart", "instantiate"})


@extend_schema_view(list=extend_schema(parameters=[SCOPE_PARAMETER]))
class ArtifactViewSet(BundleActions, viewsets.ModelViewSet):
    """Your artifacts and those shared with you (staff: everyone's); any other is a 404.

    Viewers see, run, export and chart an artifact; editors also change it; only its owner
    (and staff) delete it, change who sees it or hand it over (403 for the others).
    """

    serializer_class = ArtifactSerializer
    permission_classes = [HasObjectPermission]
    # Asked about the artifact at each request (apps.llm_artifact.rules).
    object_permissions = {
        "retrieve": "artifacts.view",
        "runs": "artifacts.view",
        "execute": "artifacts.run",
        "export": "artifacts.run",
        "chart": "artifacts.run",
        "jobs": "artifacts.view",
        "update": "artifacts.change",
        "partial_update": "artifacts.change",
        "destroy": "artifacts.delete",
        "transfer": "artifacts.share",
        # A template is used by anyone who may see it: the new artifact is their own.
        "instantiate": "artifacts.view",
        # Vouching that the SQL answers its question is an edit.
        "verify": "artifacts.change",
        "unverify": "artifacts.change",
    }
    # Deep pages read their rows by id: the chart check's subqueries (below) and the joins
    # are computed for the page's rows only, not for every row OFFSET skips. Rows are
    # counted up to 1,000 (`count` is null beyond): a search is not scanned to its end.
    # `?cursor=` gives cursor pages instead, for clients that walk the whole list.
    pagination_class = PageNumberOrCursorPagination
    filter_backends = [DjangoFilterBackend, ArtifactSearchFilter, StableOrderingFilter]
    filterset_class = ArtifactFilter
    # Read by the schema; the search itself is ArtifactQuerySet.ranked_search().
    search_fields = SEARCH_FIELDS
    ordering_fields = ["created_at", "updated_at", "last_executed_at", "execution_count", "title"]

    def finalize_response(self, request: Request, response: Any, *args, **kwargs) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.action != "execute" or not isinstance(response, Response):
            return response
        # Rendered here, in the view's own call: under ASGI, Django hops to the request's
        # thread and back once more to render any response that has a render()
        # (bench/api_execute.py). The plain response keeps the status, headers and body.
        response.render()
        plain = HttpResponse(response.content, status=response.status_code)
        for header, value in response.items():
            plain[header] = value
        plain.data = response.data
        return plain

    def get_queryset(self) -> QuerySet[Artifact]:
        user = self.request.user
        if self.action == "list":
            artifacts = Artifact.objects.in_scope(user, list_scope(self.request))
        else:
            artifacts = Artifact.objects.visible_to(user)
        if self.action in SQL_ACTIONS:
            # Another type (apps/llm_artifact/types) has no SQL to run: 404, as missing.
            artifacts = artifacts.filter(artifact_type__in=artifact_types.sql_names())
        # visualization_problems checks charts against the latest result: in the same query.
        artifacts = artifacts.with_related().with_last_result_columns().with_library()
        if self.action in SHOWS_ARTIFACT:
            # Shown, and read by the permissions (can_edit, can_manage): in one query.
            artifacts = artifacts.with_shares()
        return artifacts

    def perform_create(self, serializer: ArtifactSerializer) -> None:
        serializer.save(owner=self.request.user)

    @extend_schema(
        summary="Mark the artifact as verified",
        description="An editor vouches that its SQL answers `question` (given here, or the "
        "artifact's own). Records who and when; a later change of the SQL clears the mark "
        "unless that write sends `keep_verified: true`. Verifying again refreshes who and "
        "when.",
        request=VerifySerializer,
        responses={200: ArtifactSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[], parser_classes=[JSONParser])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()  # artifacts.change, asked now (object_permissions)
        serializer = VerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        question = serializer.validated_data.get("question")
        if not (question or artifact.question).strip():
            raise ValidationError({"question": ["Say which question the artifact answers."]})
        artifact.verify(request.user, question)
        return Response(ArtifactSerializer(artifact, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Remove the artifact's verified mark",
        request=None,
        responses={200: ArtifactSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def unverify(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()  # artifacts.change, asked now (object_permissions)
        artifact.unverify()
        return Response(ArtifactSerializer(artifact, context=self.get_serializer_context()).data)

    # The actions below pass filter_backends=[]: their query strings are parameter values
    # (an artifact parameter may well be called "status" or "search"), which the list's
    # filters must not read when get_object() looks the artifact up.

    @extend_schema(
        summary="Run the artifact with parameter values",
        description="Runs the SQL read-only on the artifact's data source and returns at "
        "most the source's display cap of rows (`truncated` says whether there were more; "
        "the export endpoint returns them all). Every run that reaches the data source is "
        "recorded and updates the artifact's statistics and status.\n\n"
        "400 answers are either `params` (bad, missing or unknown values, keyed by "
        "parameter name; nothing ran) or `detail` + `outcome` + `run_id` (the query was "
        "rejected as unsafe, failed or timed out; that run is recorded).\n\n"
        "With `?background=1` a worker runs it with the data source's background time "
        "limit: the answer is 202 with the job (its `url` tells how it goes; the run it "
        "records is in `run`). Bad values are still a 400 at once.",
        parameters=[BACKGROUND_PARAMETER],
        request=ExecuteSerializer,
        responses={
            200: QueryResultSerializer,
            202: ArtifactJobSerializer,
            400: OpenApiResponse(
                EXECUTE_ERROR, description="Bad parameter values, or a failed run."
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        serializer_class=ExecuteSerializer,
        # `params` is an object: only JSON can carry it.
        parser_classes=[JSONParser],
        renderer_classes=[QueryResultRenderer],
    )
    def execute(self, request: Request, pk: str | None = None) -> Response:
        # Only what running needs: the list's joins and result-column subqueries would
        # cost more than the run itself (bench/api_execute.py).
        artifacts = Artifact.objects.visible_to(request.user).only(*RUN_FIELDS)
        artifacts = artifacts.filter(artifact_type__in=artifact_types.sql_names())
        artifact = get_object_or_404(artifacts, pk=pk)
        self.check_object_permissions(request, artifact)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if wants_background(request):
            try:
                record = start_background_run(
                    artifact, user=request.user, raw_params=serializer.validated_data["params"]
                )
            except DjangoValidationError as exc:
                raise ValidationError({"params": exc.message_dict}) from exc
            return accepted(record, request)
        run, result = _run(artifact, request, serializer.validated_data["params"])
        if result is None:
            return _run_failed(run, request.user)
        # Built by hand rather than through QueryResultSerializer (which documents it): a
        # serializer would walk every one of up to 1,000 rows' values in Python. The rows
        # go as they are: QueryResultRenderer writes non-finite numbers as null.
        return Response(
            {
                "columns": [{"name": c.name, "type": c.type} for c in result.columns],
                "rows": result.rows,
                "row_count": result.row_count,
                "truncated": result.truncated,
                "duration_ms": result.duration_ms,
                "run_id": run.pk,
            }
        )

    @extend_schema(
        summary="List the artifact's runs, newest first",
        description="Runs from the API, the pages, the admin, the command line and exports, "
        "whatever their outcome.",
        responses=ArtifactRunSerializer(many=True),
    )
    @action(
        detail=True, methods=["get"], filter_backends=[], serializer_class=ArtifactRunSerializer
    )
    def runs(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()
        page = self.paginate_queryset(artifact.runs.without_snapshot().select_related("user"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="List your background runs and exports of the artifact, newest first",
        responses=ArtifactJobSerializer(many=True),
    )
    # Page numbers, as /api/artifact-jobs/ pages the same serializer: the schema has one
    # paginated list per serializer, so both must answer it (a user's jobs are few).
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        serializer_class=ArtifactJobSerializer,
        pagination_class=PageNumberPagination,
    )
    def jobs(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()
        records = artifact.background_jobs.filter(job__requested_by=request.user)
        page = self.paginate_queryset(records.select_related("job"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Use a template: preview it filled in, or save a new artifact from it",
        description="Fills the template's identifier slots with tables and columns of "
        "`data_source` (only those exposed to SQL), renders them into its SQL as quoted "
        "identifiers and checks the result with the guard. With `preview: true` the SQL "
        "runs read-only with `params` and its rows come back (nothing is recorded); "
        "otherwise a new private artifact owned by you is saved, remembering its template "
        "(`template`), with the values given as its parameter defaults. Anyone who may see "
        "the template may use it; an artifact that is not a template is a 404.\n\n"
        "400 answers are either field errors (`data_source`, `slots` keyed by slot name, "
        "`sql`, `params` keyed by parameter name, `title`; nothing ran) or `detail` + "
        "`outcome` (the preview was refused, failed or timed out).",
        request=InstantiateSerializer,
        responses={
            200: PreviewResultSerializer,
            201: ArtifactSerializer,
            400: OpenApiResponse(INSTANTIATE_ERROR, description="Bad input, or a failed preview."),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        parser_classes=[JSONParser],
        serializer_class=InstantiateSerializer,
    )
    def instantiate(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        if not template.is_template:
            raise NotFound(gettext("This artifact is not a template."))
        serializer = InstantiateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            outcome = use_template(
                template,
                user=request.user,
                data_source=data["data_source"],
                slot_values=data["slots"],
                raw_params=data["params"],
                title=data["title"],
                preview=data["preview"],
            )
        except TemplateInputError as exc:
            raise ValidationError(_instantiate_errors(exc.errors)) from None
        except QueryFailed as exc:
            return Response(
                {"detail": exc.message_for(request.user), "outcome": exc.outcome},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(outcome, Artifact):
            artifact = self.get_queryset().get(pk=outcome.pk)
            body = ArtifactSerializer(artifact, context=self.get_serializer_context()).data
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(
            {
                "columns": [{"name": c.name, "type": c.type} for c in outcome.columns],
                "rows": _json_safe_rows(outcome),
                "row_count": outcome.row_count,
                "truncated": outcome.truncated,
                "duration_ms": outcome.duration_ms,
                "run_id": None,
            }
        )

    @extend_schema(
        summary="Download the artifact's full result as CSV, JSON or XLSX",
        description="Streams every row up to the data source's export cap (not only the "
        "display cap of the execute endpoint), as a file named after the artifact. Every "
        "query parameter except `format` is a value for the artifact's parameter of that "
        "name, e.g. `?format=xlsx&status=paid&since=2024-01-01` (so a parameter named "
        "`format` can only take its default here).\n\n"
        "Parameters and format are checked, and the query is started, before the first "
        "byte: a bad value, or a query that is rejected or fails at once, is a 400 like the "
        "execute endpoint's. A query that fails after rows were sent cannot change the "
        "status any more: the response is then cut off (an incomplete chunked body), "
        "never ended as if the file were complete.\n\n"
        "The export is recorded as one run of the artifact (counted once in its "
        "statistics) when the file is finished.\n\n"
        "With `?background=1` a worker writes the file (with the data source's background "
        "time limit) and the answer is 202 with the job: follow its `url` for the progress, "
        "then fetch its `download_url`. The file is kept for EXPORT_FILE_KEEP_HOURS.",
        parameters=[
            BACKGROUND_PARAMETER,
            OpenApiParameter(
                "format",
                enum=list(EXPORT_FORMATS),
                default="csv",
                description="The file type.",
            ),
            QUERY_PARAMS,
        ],
        responses={
            **{
                (200, export.content_type.split(";")[0]): OpenApiResponse(
                    EXPORT_FILE_TYPES[name],
                    description="The file, as an attachment named after the artifact.",
                )
                for name, export in EXPORT_FORMATS.items()
            },
            202: ArtifactJobSerializer,
            400: OpenApiResponse(
                EXPORT_ERROR,
                description="A bad format, bad parameter values, or a query that failed "
                "before the first row.",
            ),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        content_negotiation_class=ExportNegotiation,
    )
    def export(
        self, request: Request, pk: str | None = None, format: str | None = None
    ) -> StreamingHttpResponse | Response:
        artifact = self.get_object()
        # The router's suffix route (/export.xlsx) names the format too.
        query = ExportQuerySerializer(data={"format": format} if format else request.query_params)
        query.is_valid(raise_exception=True)
        values = {
            name: value
            for name, value in request.query_params.items()
            if name not in ("format", "background")
        }
        if wants_background(request):
            try:
                record = start_background_export(
                    artifact,
                    user=request.user,
                    raw_params=values,
                    export_format=query.validated_data["format"],
                )
            except DjangoValidationError as exc:
                raise ValidationError({"params": exc.message_dict}) from exc
            return accepted(record, request)
        try:
            export = export_artifact(
                artifact,
                user=request.user,
                raw_params=values,
                export_format=query.validated_data["format"],
            )
        except DjangoValidationError as exc:
            raise ValidationError({"params": exc.message_dict}) from exc
        except ExportFailed as exc:
            return _run_failed(exc.run, request.user)
        # A plain Django response: DRF's renderers have nothing to do with a file.
        return download_response(request._request, export)

    @extend_schema(
        summary="Draw the artifact's chart as PNG or SVG",
        description="Runs the artifact with the given parameter values and draws its "
        "Vega-Lite chart over the rows on the server (no browser). `/chart.png` and "
        "`/chart.svg` are the same as `/chart/?format=png` and `?format=svg`. Every query "
        "parameter other than `format`, `width`, `height` and `scale` is a value for the "
        "artifact's parameter of that name, e.g. `/chart.png?since=2024-01-01&width=800` "
        "(so parameters with those four names can only take their defaults here).\n\n"
        "The run is recorded like any other and counts in the artifact's statistics. The "
        "chart draws at most 10,000 rows of the result (the data source's display cap "
        "applies first); a chart that does not show every row says so in its subtitle.\n\n"
        "400 answers: a bad `format`, `width`, `height` or `scale` (keyed by name); `params` "
        "(bad parameter values, nothing ran); `detail` + `outcome` + `run_id` (the query "
        "failed, that run is recorded); or `detail` + `problems` (the artifact has no chart, "
        "or its spec does not fit the result, each problem with its path in the spec).",
        parameters=[
            ChartQuerySerializer,
            QUERY_PARAMS,
        ],
        responses={
            (200, "image/png"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The chart as a PNG."
            ),
            (200, "image/svg+xml"): OpenApiResponse(
                OpenApiTypes.STR, description="The chart as an SVG."
            ),
            400: OpenApiResponse(
                CHART_ERROR,
                description="Bad options or parameter values, a failed run, or no chart "
                "that fits the result.",
            ),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        content_negotiation_class=ExportNegotiation,
    )
    def chart(
        self, request: Request, pk: str | None = None, format: str | None = None
    ) -> HttpResponse | Response:
        artifact = self.get_object()
        data = request.query_params.dict()
        if format:
            data["format"] = format  # the suffix route: /chart.png
        query = ChartQuerySerializer(data=data)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        spec = artifact.visualization_config
        # Worth knowing before running the query: no chart, or one no result could fit.
        problems = [p for p in validate_visualization(spec, columns=None) if p.is_error]
        if not spec or problems:
            detail = (
                "This artifact has no chart; it is shown as a table."
                if not spec
                else f"The chart spec is not valid: {problems[0]}"
            )
            return _chart_failed(detail, problems, run=None)
        values = {name: value for name, value in data.items() if name not in CHART_QUERY_NAMES}
        run, result = _run(artifact, request, values)
        if result is None:
            return _run_failed(run, request.user)
        fmt = options["format"]
        try:
            image = render_chart(
                spec,
                result.columns,
                result.rows,
                fmt=fmt,
                width=options.get("width"),
                height=options.get("height"),
                scale=options["scale"],
                truncated=result.truncated,
            )
        except ChartRenderError as exc:
            return _chart_failed(exc.message, exc.problems, run=run)
        response = HttpResponse(image, content_type=CHART_CONTENT_TYPES[fmt])
        filename = f"{slugify(artifact.title) or 'chart'}.{fmt}"
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        # Each request runs the query: a cached image would show stale rows.
        response["Cache-Control"] = "private, no-store"
        if fmt == "svg":
            # Opened on its own, an SVG is a document of this site: let it run nothing.
            response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response

    @extend_schema(
        summary="Hand the artifact to another owner",
        description="Only the owner (and staff) may. The new owner must be able to use the "
        "artifact's data source. The change is recorded in the sharing history; the "
        "artifact keeps its visibility and shares, so the previous owner keeps seeing it "
        "only if it is shared with them.",
        request=TransferSerializer,
        responses={200: ArtifactSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        serializer_class=TransferSerializer,
        parser_classes=[JSONParser],
    )
    def transfer(self, request: Request, pk: str | None = None) -> Response:
        artifact = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new_owner = serializer.validated_data["owner"]
        if not new_owner.has_perm("datasources.use", artifact.data_source):
            raise ValidationError(
                {"owner": [f"{new_owner} may not use the data source {artifact.data_source}."]}
            )
        transfer(artifact, to=new_owner, actor=request.user)
        artifact = self.get_queryset().filter(pk=artifact.pk).first() or artifact
        return Response(ArtifactSerializer(artifact, context=self.get_serializer_context()).data)


def _chart_failed(detail: str, problems: list, *, run: ArtifactRun | None) -> Response:
    return Response(
        {
            "detail": detail,
            "problems": [problem.as_dict() for problem in problems],
            "run_id": run.pk if run else None,
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


def _run(artifact: Artifact, request: Request, raw_params: dict) -> RunResult:
    """Run through the one service; bad parameter values are a 400 keyed by their names."""
    try:
        return run_artifact(artifact, user=request.user, raw_params=raw_params)
    except DjangoValidationError as exc:
        raise ValidationError({"params": exc.message_dict}) from exc


def _run_failed(run: ArtifactRun, user: Any) -> Response:
    return Response(
        {"detail": run.error_for(user), "outcome": run.outcome, "run_id": run.pk},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _json_safe_rows(result: QueryResult) -> list[list]:
    # JSON has no NaN or Infinity (SQLite computes 9e999 as infinity): they become null,
    # as in the JSON export. Only columns that can hold floats are looked at.
    floats = [
        index
        for index, column in enumerate(result.columns)
        if column.type in (ColumnType.NUMBER, ColumnType.UNKNOWN)
    ]
    rows = result.rows
    for position, row in enumerate(rows):
        if any(_non_finite(row[index]) for index in floats):
            rows[position] = [None if _non_finite(value) else value for value in row]
    return rows


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


PREVIEW_ERROR = PolymorphicProxySerializer(
    component_name="PreviewError",
    serializers=[PreviewInputErrorsSerializer, PreviewFailedSerializer],
    resource_type_field_name=None,
)


class SQLPreviewViewSet(viewsets.ViewSet):
    """Running SQL that is not saved yet: the editor's Run, recorded nowhere."""

    def throttled(self, request: Request, wait: float | None) -> None:
        # The page's message (with when to try again) rather than DRF's generic one; the
        # Retry-After header still says it in seconds.
        exc = Throttled(detail=throttled_message(wait))
        exc.wait = math.ceil(wait) if wait else None
        raise exc

    @extend_schema(
        summary="Run SQL before saving it (a preview)",
        description="Runs `sql` read-only on the data source as an artifact with these "
        "parameter `declarations` and `params` would run: the same guard, executor, display "
        "cap and time limit, and the execute endpoint's answer. Nothing is recorded: no "
        "run, no statistics (`run_id` is null).\n\n"
        "400 answers are either field errors (`sql`, `data_source`, `declarations`, or "
        "`params` keyed by parameter name; nothing ran) or `detail` + `outcome` (the query "
        "was rejected as unsafe, failed or timed out).\n\n"
        "Previews are limited per user (SQL_PREVIEW_THROTTLE_RATE, 30 a minute by default, "
        "shared with the workbench page's preview): above it, a 429 says when to run again "
        "(`detail`, and `Retry-After` in seconds).",
        request=PreviewSerializer,
        responses={
            200: PreviewResultSerializer,
            400: OpenApiResponse(
                PREVIEW_ERROR, description="Bad input, or a refused or failed query."
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        parser_classes=[JSONParser],
        renderer_classes=[QueryResultRenderer],
        throttle_classes=[PreviewRunThrottle],
    )
    def run(self, request: Request) -> Response:
        serializer = PreviewSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = preview_sql(
                data["data_source"],
                data["sql"],
                declarations=data["declarations"],
                raw_params=data["params"],
            )
        except DjangoValidationError as exc:
            raise ValidationError({"params": exc.message_dict}) from exc
        except QueryFailed as exc:
            return Response(
                {"detail": exc.message_for(request.user), "outcome": exc.outcome},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            {
                "columns": [{"name": c.name, "type": c.type} for c in result.columns],
                "rows": result.rows,
                "row_count": result.row_count,
                "truncated": result.truncated,
                "duration_ms": result.duration_ms,
                "run_id": None,
            }
        )


class TagViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The tags on artifacts you may see, each with how many of them carry it, the most used
    first. Tags only on artifacts you cannot see are not listed."""

    serializer_class = TagSerializer
    queryset = Tag.objects.none()  # for the schema; get_queryset() is the rule

    def get_queryset(self) -> QuerySet[Tag]:
        return Tag.objects.on(Artifact.objects.visible_to(self.request.user))
