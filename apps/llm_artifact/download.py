"""Downloads as HTTP responses: an artifact's export, shared by the artifact page and the
API (the export itself is services.export_artifact), a background export's file, and a
bundle of artifacts."""

from __future__ import annotations

from pathlib import Path

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from apps.core.streaming import streaming_body
from apps.datasources.exports import FILE_CHUNK_BYTES
from apps.llm_artifact.bundles import dumps, export_bundle
from apps.llm_artifact.services import ArtifactExport


def download_response(request: HttpRequest, export: ArtifactExport) -> StreamingHttpResponse:
    """Stream `export` (from services.export_artifact) as a download named after the artifact.

    `request` is Django's request (a DRF view passes `request._request`): under ASGI the body
    must be an async iterator to stay streamed. Django closes the export when the response
    is done, which records its run.
    """
    response = StreamingHttpResponse(
        streaming_body(request, export), content_type=export.content_type
    )
    response["Content-Disposition"] = content_disposition_header(True, export.filename)
    return response


def file_download(
    request: HttpRequest, path: Path, *, filename: str, content_type: str
) -> FileResponse:
    """A file on disk as a download, read chunk by chunk as it is sent.

    FileResponse sets the length and name; its body is replaced by streaming_body's, as
    under ASGI Django would otherwise read the whole file into memory before sending it.
    `request` is Django's request (a DRF view passes `request._request`).
    """
    file = path.open("rb")
    response = FileResponse(file, as_attachment=True, filename=filename, content_type=content_type)
    # FileResponse closes the file when the response is done.
    response.streaming_content = streaming_body(
        request, iter(lambda: file.read(FILE_CHUNK_BYTES), b"")
    )
    return response


def bundle_download(artifacts: QuerySet) -> HttpResponse:
    """`artifacts` as a bundle file (apps.llm_artifact.bundles), for the list page and the
    admin action alike."""
    response = HttpResponse(dumps(export_bundle(artifacts)), content_type="application/json")
    filename = f"artifacts-{timezone.localdate():%Y-%m-%d}.json"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
