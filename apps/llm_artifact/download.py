"""The download of an artifact export as an HTTP response, shared by the artifact page
and the API (the export itself is services.export_artifact)."""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

from apps.core.streaming import streaming_body
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
