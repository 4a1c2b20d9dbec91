"""The fault test of issue 15's Measures: a worker killed with SIGKILL in the middle of a
webhook delivery (the receiver stalls), another worker finishes it, and the receiver gets
the delivery once: it dedupes by Idempotency-Key, as receivers are asked to."""

from __future__ import annotations

import json
import signal

import pytest

from tests.jobs.worker_processes import queue_env as make_queue_env
from tests.jobs.worker_processes import read, shell, start_worker, wait_for
from tests.notifications.receiver import Receiver


@pytest.fixture(scope="module")
def queue_env(tmp_path_factory):
    return make_queue_env(
        tmp_path_factory.mktemp("webhook-queue"),
        WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="true",
        WEBHOOKS_ALLOW_HTTP="true",
        WEBHOOKS_TIMEOUT_SECONDS="30",
    )


def delivery_row(env, pk: str) -> dict:
    [row] = read(
        env,
        "SELECT status, attempts, status_code, delivered_at FROM notifications_webhookdelivery "
        "WHERE id = ?",
        int(pk),
    )
    return dict(zip(["status", "attempts", "status_code", "delivered_at"], row, strict=True))


def test_a_delivery_survives_its_worker_being_killed(queue_env):
    with Receiver(stall_first=60) as receiver:
        payload = json.dumps({"alert": "Cancelled orders", "value": 12})
        pk = shell(
            queue_env,
            "from apps.notifications.webhooks import send_webhook, webhook_secret; "
            f"print(send_webhook({receiver.url!r}, key='alert:1:run:1', payload={payload}, "
            "secret=webhook_secret('subscription:1')).pk)",
        )
        first = start_worker(queue_env)
        try:
            # The receiver has the request and holds it; the worker waits for the answer.
            assert receiver.first_arrived.wait(60)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            first.kill()
        assert delivery_row(queue_env, pk)["status"] == "sending"

        second = start_worker(queue_env)
        try:
            wait_for(lambda: delivery_row(queue_env, pk)["status"] == "delivered", timeout=60)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=15)

        # Sent twice (the first worker died waiting for the answer), delivered once.
        assert [r.headers["idempotency-key"] for r in receiver.requests] == ["alert:1:run:1"] * 2
        assert receiver.requests[0].body == receiver.requests[1].body
        assert receiver.delivered == ["alert:1:run:1"]
    row = delivery_row(queue_env, pk)
    assert row["status"] == "delivered" and row["status_code"] == 200
    assert row["attempts"] == 2 and row["delivered_at"]
    assert read(queue_env, "SELECT COUNT(*) FROM notifications_webhookdelivery") == [(1,)]
    outcomes = read(
        queue_env,
        "SELECT a.outcome FROM jobs_jobattempt a JOIN jobs_job j ON a.job_id = j.id "
        "WHERE j.name = 'apps.notifications.tasks.deliver_webhook' ORDER BY a.number",
    )
    assert outcomes == [("lost",), ("succeeded",)]


def test_cancelling_a_delivery_stops_its_worker_waiting_on_the_receiver(queue_env):
    with Receiver(stall_first=60) as receiver:
        pk = shell(
            queue_env,
            "from apps.notifications.webhooks import send_webhook, webhook_secret; "
            f"print(send_webhook({receiver.url!r}, key='alert:2:run:1', payload={{}}, "
            "secret=webhook_secret('subscription:2')).pk)",
        )
        worker = start_worker(queue_env)
        try:
            assert receiver.first_arrived.wait(60)
            shell(
                queue_env,
                "from apps.notifications.models import WebhookDelivery; "
                f"WebhookDelivery.objects.get(pk={pk}).job.request_cancel()",
            )
            # The worker gives up the POST it is waiting on, long before the receiver answers.
            wait_for(lambda: delivery_row(queue_env, pk)["status"] == "failed", timeout=20)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=15)
    assert read(
        queue_env,
        "SELECT j.status FROM jobs_job j JOIN notifications_webhookdelivery d "
        "ON d.job_id = j.id WHERE d.id = ?",
        int(pk),
    ) == [("cancelled",)]
    assert len(receiver.requests) == 1
