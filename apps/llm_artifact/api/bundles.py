"""Bundles on the API: `GET|POST /api/artifacts/export/` and `POST /api/artifacts/import/`,
actions of ArtifactViewSet through BundleActions (the format is apps.llm_artifact.bundles)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.parsers import JSONParser
from apps.core.serializers import ErrorSerializer
from apps.llm_artifact.bundles import (
    Action,
    BundleError,
    Conflict,
    ImportPlan,
    apply_import,
    export_bundle,
    load_bundle,
    plan_import,
)

BUNDLE_SCHEMA = {
    "type": "object",
    "description": "A bundle of artifacts, version 1 (docs/bundles.md; its JSON Schema is "
    "docs/bundle.schema.json).",
    "properties": {
        "format": {"type": "string", "enum": ["llm-artifacts-bundle"]},
        "version": {"type": "integer"},
        "exported_at": {"type": "string", "format": "date-time"},
        "artifacts": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    },
    "required": ["format", "version", "exported_at", "artifacts"],
}
UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {"file": {"type": "string", "format": "binary"}},
    "required": ["file"],
}
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


class ExportSelectionSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=10_000,
        help_text="The artifacts to export, by id; left out, every artifact the list's "
        "filters (on the query string) match.",
    )


class ImportItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Its position in the bundle, from 0.")
    uid = serializers.CharField(help_text="Its uid (empty when the bundle's is not one).")
    title = serializers.CharField(allow_blank=True)
    action = serializers.ChoiceField(choices=Action.values)
    artifact_id = serializers.IntegerField(
        allow_null=True, help_text="The existing artifact updated or skipped; null if created."
    )
    problems = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())


class ImportResultSerializer(serializers.Serializer):
    """What the import did, or would do on a dry run."""

    ok = serializers.BooleanField()
    imported = serializers.BooleanField(help_text="Whether anything was written.")
    conflict = serializers.ChoiceField(choices=Conflict.values)
    counts = serializers.DictField(child=serializers.IntegerField())
    problems = serializers.ListField(child=serializers.CharField())
    items = ImportItemSerializer(many=True)


class ImportRefusedSerializer(ErrorSerializer):
    """Nothing was imported: the bundle's problems, bundle-wide and per item."""

    detail = serializers.CharField()
    ok = serializers.BooleanField()
    imported = serializers.BooleanField()
    conflict = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    problems = serializers.ListField(child=serializers.CharField())
    items = ImportItemSerializer(many=True)


def _flag(request: Request, name: str) -> bool | None:
    """A true/false query parameter (false when left out); None when it is neither."""
    value = request.query_params.get(name, "false").strip().lower()
    return value in TRUE if value in TRUE | FALSE else None


def _refused(plan: ImportPlan, detail: str) -> Response:
    body = {"detail": detail, "imported": False, **plan.as_dict()}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


EXPORT_DOCS = {
    "summary": "Export artifacts as a bundle",
    "description": "The artifacts the list's filters match (GET, or POST without ids), or "
    "those of them listed by id (POST), as a bundle (docs/bundles.md): what defines each "
    "artifact, never owners, chats, counts or run history. At most BUNDLE_MAX_ARTIFACTS "
    "artifacts (1,000 by default): a larger selection is a 400.",
    "filters": True,
    "responses": {200: OpenApiResponse(BUNDLE_SCHEMA, description="The bundle.")},
}


class BundleActions:
    """The export and import actions of ArtifactViewSet."""

    @extend_schema(methods=["GET"], operation_id="artifacts_bundle_export", **EXPORT_DOCS)
    @extend_schema(
        methods=["POST"],
        operation_id="artifacts_bundle_export_selected",
        request=ExportSelectionSerializer,
        **EXPORT_DOCS,
    )
    @action(
        detail=False,
        methods=["get", "post"],
        url_path="export",
        url_name="export-bundle",
        serializer_class=ExportSelectionSerializer,
        parser_classes=[JSONParser],
        pagination_class=None,
    )
    def export_bundle(self, request: Request) -> Response:
        artifacts = self.filter_queryset(self.get_queryset())
        if request.method == "POST":
            selection = ExportSelectionSerializer(data=request.data)
            selection.is_valid(raise_exception=True)
            ids = selection.validated_data.get("ids")
            if ids is not None:
                artifacts = artifacts.filter(pk__in=ids)
                missing = sorted(set(ids) - set(artifacts.values_list("pk", flat=True)))
                if missing:
                    names = ", ".join(str(pk) for pk in missing[:20])
                    raise ValidationError({"ids": [f"No artifact you can see with id {names}."]})
        limit = settings.BUNDLE_MAX_ARTIFACTS
        if artifacts.count() > limit:
            raise ValidationError(
                {"non_field_errors": [f"More than {limit:,} artifacts: narrow the selection."]}
            )
        return Response(export_bundle(artifacts))

    @extend_schema(
        summary="Import a bundle of artifacts",
        operation_id="artifacts_bundle_import",
        description="The bundle as the JSON body, or as a file upload (multipart, field "
        "`file`, up to BUNDLE_MAX_BYTES: 5 MB by default; a JSON body is held to "
        "DATA_UPLOAD_MAX_MEMORY_SIZE). Every artifact is checked as if you had typed it "
        "(the SQL guard, the chart, the parameter declarations, the data source and its "
        "exposed tables); you own what is created, privately. `conflict` says what happens "
        "to an artifact whose uid exists: `skip` it, `update` it (only one you may edit) or "
        "import a `copy` with a new uid. With `dry_run=true` nothing is written; otherwise "
        "all of it is, in one transaction, or nothing when any item has a problem (400, "
        "with every problem per item).",
        parameters=[
            OpenApiParameter(
                "dry_run", OpenApiTypes.BOOL, description="Only say what would happen."
            ),
            OpenApiParameter("conflict", OpenApiTypes.STR, enum=Conflict.values),
        ],
        request={"application/json": BUNDLE_SCHEMA, "multipart/form-data": UPLOAD_SCHEMA},
        responses={
            200: OpenApiResponse(ImportResultSerializer, description="The dry run's plan."),
            201: OpenApiResponse(ImportResultSerializer, description="Imported."),
            400: OpenApiResponse(ImportRefusedSerializer, description="Nothing imported."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import-bundle",
        filter_backends=[],
        parser_classes=[JSONParser, MultiPartParser],
        pagination_class=None,
    )
    def import_bundle(self, request: Request) -> Response:
        dry_run = _flag(request, "dry_run")
        conflict = request.query_params.get("conflict", Conflict.SKIP)
        plan = ImportPlan(user=request.user, conflict=conflict)
        if dry_run is None:
            message = f"dry_run must be true or false: got {request.query_params['dry_run']!r}."
            plan.problems.append(message)
            return _refused(plan, message)
        try:
            bundle = self._uploaded_bundle(request)
        except BundleError as exc:
            plan.problems.append(exc.message)
            return _refused(plan, exc.message)
        plan = plan_import(bundle, request.user, conflict)
        if not plan.ok:
            return _refused(plan, "The bundle has problems: nothing was imported.")
        if dry_run:
            return Response({"imported": False, **plan.as_dict()})
        try:
            apply_import(plan)
        except BundleError as exc:
            return _refused(plan, exc.message)
        return Response({"imported": True, **plan.as_dict()}, status=status.HTTP_201_CREATED)

    def _uploaded_bundle(self, request: Request):
        upload = request.FILES.get("file")
        if upload is not None:
            # One byte past the limit is enough for load_bundle to refuse it.
            return load_bundle(upload.read(settings.BUNDLE_MAX_BYTES + 1))
        if request.content_type.startswith("multipart/"):
            raise BundleError('Upload the bundle as the file field "file".')
        return request.data
