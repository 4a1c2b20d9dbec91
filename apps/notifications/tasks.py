"""Background work of notifications: delivering webhooks (see webhooks.py for the protocol)."""

from __future__ import annotations

from apps.jobs.runner import JobContext, job
from apps.notifications.models import WebhookDelivery
from apps.notifications.webhooks import attempt_delivery

# Back-off between tries is the runner's: about 10 s, 40 s, 90 s, 160 s.
WEBHOOK_ATTEMPTS = 5


@job(time_limit=300, max_attempts=WEBHOOK_ATTEMPTS)
def deliver_webhook(ctx: JobContext, delivery_id: int) -> str:
    """POST a recorded webhook delivery once more, unless it is already finished."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.is_finished:
        return "finished before" if delivery else "gone"
    connections = []
    # A cancel or lost lease closes the connection the POST waits on, so the worker stops.
    ctx.on_stop(lambda: [connection.close() for connection in connections])
    return attempt_delivery(
        delivery, final=ctx.attempt >= ctx.job.max_attempts, on_connection=connections.append
    )
