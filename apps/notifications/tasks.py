"""Background work of notifications: delivering webhooks (see webhooks.py for the protocol)."""

from __future__ import annotations

import contextlib
import socket
from http.client import HTTPConnection

from apps.jobs.runner import Cancelled, JobContext, TimeLimitExceeded, TransientError, job
from apps.notifications.models import WebhookDelivery
from apps.notifications.webhooks import attempt_delivery, give_up

# Back-off between tries is the runner's: about 10 s, 40 s, 90 s, 160 s.
WEBHOOK_ATTEMPTS = 5


@job(time_limit=300, max_attempts=WEBHOOK_ATTEMPTS)
def deliver_webhook(ctx: JobContext, delivery_id: int) -> str:
    """POST a recorded webhook delivery once more, unless it is already finished."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.is_finished:
        return "finished before" if delivery else "gone"
    connections: list[HTTPConnection] = []
    # A cancel, the time limit or a lost lease cuts the connection the POST waits on.
    ctx.on_stop(lambda: [_cut(connection) for connection in connections])
    try:
        return attempt_delivery(
            delivery, final=ctx.attempt >= ctx.job.max_attempts, on_connection=connections.append
        )
    except TransientError:
        # Stopped on purpose (cancelled, timed out): the delivery gives up and says why. A
        # lost lease raises too, but the delivery is then another worker's to record.
        try:
            ctx.check()
        except (Cancelled, TimeLimitExceeded) as stop:
            if ctx.stop_reason in ("cancelled", "timed_out"):
                give_up(delivery, str(stop))
            raise
        raise


def _cut(connection: HTTPConnection) -> None:
    # shutdown() wakes the thread blocked reading the answer; close() alone may not.
    if connection.sock is not None:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)
