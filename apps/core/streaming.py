"""Streaming response bodies that keep memory flat under WSGI and ASGI alike.

A StreamingHttpResponse given a synchronous iterator is streamed chunk by chunk under
WSGI, but under ASGI Django reads the whole iterator into one list before sending a byte
(and warns): a million-row export would sit in memory. `streaming_body()` hands ASGI an
asynchronous iterator instead, which produces each chunk in Django's thread for sync
code, where the view ran and where its database work belongs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest


class ChunksInThread:
    """An async iterator over a blocking iterable of chunks, one chunk per thread hop."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._source = chunks
        self._chunks = iter(chunks)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # thread_sensitive (the default): the same thread as the sync view, so a driver
        # connection the view opened is used from the thread that opened it.
        next_chunk = sync_to_async(next)
        try:
            while (chunk := await next_chunk(self._chunks, None)) is not None:
                yield chunk
        finally:
            # When the client goes away Django cancels the response without calling its
            # close(); close the source here so its connection and run are finished.
            await sync_to_async(self.close)()

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def streaming_body(
    request: HttpRequest, chunks: Iterable[bytes]
) -> Iterable[bytes] | ChunksInThread:
    """What to give StreamingHttpResponse for `chunks` on the server `request` came from.

    If `chunks` has close(), Django calls it when the response is done, either way.
    """
    if isinstance(request, ASGIRequest):
        return ChunksInThread(chunks)
    return chunks
