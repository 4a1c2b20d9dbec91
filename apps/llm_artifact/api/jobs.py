"""Background runs and exports on the API: `POST /api/artifacts/{id}/execute/?background=1`
and `GET /api/artifacts/{id}/export/?background=1` answer 202 with the job;
`GET /api/artifacts/{id}/jobs/` lists yours of an artifact, and `/api/artifact-jobs/` all of
yours, each with its status and progress, `cancel/` and, for an export, `download/`."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.serializers import ErrorSerializer
from apps.datasources.exports import EXPORT_FORMATS
from apps.llm_artifact.download import file_download
from apps.llm_artifact.models import ArtifactJob

BACKGROUND_PARAMETER = OpenApiParameter(
    "background",
    OpenApiTypes.BOOL,
    description="`1`: do it in a worker with the data source's background time limit, and "
    "answer 202 with the job at once (follow its `url`).",
)


def wants_background(request: Request) -> bool:
    return request.query_params.get("background", "").lower() in {"1", "true", "yes"}


class ArtifactJobSerializer(serializers.ModelSerializer):
    """A background run or export: its status and progress, and an export's file."""

    id = serializers.UUIDField(source="job_id", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True)
    progress = serializers.FloatField(source="job.progress", read_only=True, help_text="0 to 1.")
    progress_text = serializers.CharField(source="job.progress_text", read_only=True)
    error = serializers.CharField(source="job.error", read_only=True)
    finished_at = serializers.DateTimeField(source="job.finished_at", read_only=True)
    url = serializers.SerializerMethodField()
    cancel_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(
        help_text="The file, once an export succeeded and while it is kept; else null."
    )

    class Meta:
        model = ArtifactJob
        fields = [
            "id",
            "artifact",
            "kind",
            "export_format",
            "params",
            "status",
            "progress",
            "progress_text",
            "rows_written",
            "total_rows",
            "reason",
            "error",
            "run",
            "file_size",
            "expires_at",
            "created_at",
            "finished_at",
            "url",
            "cancel_url",
            "download_url",
        ]
        read_only_fields = fields

    def _url(self, name: str, record: ArtifactJob) -> str:
        # Not DRF's reverse: it carries the request's ?format= over (an export's "csv").
        path = reverse(name, args=[record.job_id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, record: ArtifactJob) -> str:
        return self._url("api:artifact-job-detail", record)

    def get_cancel_url(self, record: ArtifactJob) -> str:
        return self._url("api:artifact-job-cancel", record)

    def get_download_url(self, record: ArtifactJob) -> str | None:
        if record.kind != ArtifactJob.Kind.EXPORT or not record.file_name or record.expired:
            return None
        return self._url("api:artifact-job-download", record)


def accepted(record: ArtifactJob, request: Request) -> Response:
    """202 with the job and its URL in Location."""
    record = ArtifactJob.objects.select_related("job").get(pk=record.pk)
    body = ArtifactJobSerializer(record, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class FileNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The export has not finished yet: follow its url until it succeeds.")
    default_code = "not_ready"


class FileGone(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = _("The export's file is no longer kept: export again for a fresh one.")
    default_code = "gone"


class ArtifactJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your background runs and exports, newest first (staff may open anyone's by id).

    Anyone else's is a 404, as is one whose artifact you may no longer see.
    """

    serializer_class = ArtifactJobSerializer
    lookup_field = "job_id"
    lookup_url_kwarg = "pk"
    lookup_value_regex = "[0-9a-f-]{32,36}"

    def get_queryset(self):
        jobs = ArtifactJob.objects.visible_to(self.request.user).select_related("job")
        if self.action == "list" and self.request.user.is_authenticated:
            jobs = jobs.filter(job__requested_by=self.request.user)
        return jobs

    @extend_schema(
        summary="Cancel a background run or export",
        description="A queued job is cancelled at once; a running one is asked to stop, and "
        "its query is interrupted within seconds. A finished one is left as it is.",
        request=None,
        responses={200: ArtifactJobSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        record = self.get_object()
        record.job.request_cancel()
        return Response(self.get_serializer(record).data)

    @extend_schema(
        summary="Download a background export's file",
        description="Streams the file written by the export. 409 while it is not finished, "
        "410 once the file is no longer kept, 404 for a run.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment."
            ),
            404: ErrorSerializer,
            409: ErrorSerializer,
            410: ErrorSerializer,
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None):
        record = self.get_object()
        if record.kind != ArtifactJob.Kind.EXPORT:
            raise NotFound(_("A background run has no file: its rows are in its run."))
        if not record.job.is_finished:
            raise FileNotReady()
        if record.job.status != record.job.Status.SUCCEEDED:
            raise NotFound(_("The export did not succeed, so it has no file: see its error."))
        if record.expired or not record.has_file:
            raise FileGone()
        return file_download(
            request._request,
            record.file_path,
            filename=record.download_name or record.file_name,
            content_type=EXPORT_FORMATS[record.export_format].content_type,
        )
