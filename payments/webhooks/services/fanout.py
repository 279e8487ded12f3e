"""The fan-out: committed outbox rows become one delivery per subscribed endpoint of the payment's client."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from gateway.events.models import OutboxEvent
from payments.webhooks.models import EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.selectors import webhook_endpoints_exist
from payments.webhooks.services.endpoints import webhook_event_matches

logger = logging.getLogger("payments.webhooks")

FAN_OUT_BATCH = 500
_FAN_OUT_QUEUED_KEY = "webhooks:fan-out-queued"
_FAN_OUT_QUEUED_SECONDS = 10


@dataclass(frozen=True)
class FanOutResult:
    rows: int
    deliveries: int


def _client_id_of(payload) -> int | None:
    payment = payload.get("payment") if isinstance(payload, dict) else None
    client_id = payment.get("client_id") if isinstance(payment, dict) else None
    return client_id if isinstance(client_id, int) else None


def webhooks_fan_out(*, limit: int = FAN_OUT_BATCH) -> FanOutResult:
    """Writes a delivery for each outbox row not fanned out yet (in id order)
    and each enabled endpoint of the row's payment's client that subscribed to
    its type and existed when it happened; then marks the rows. Rows that
    belong to no client (webhook_endpoint.disabled) are only marked.

    The rows are not locked, so the Kafka relay, which locks them while it
    publishes, never waits for a fan-out, nor a fan-out for it. Two fan-outs
    at once are harmless: a delivery is unique per endpoint and event."""
    now = timezone.now()
    if not WebhookEndpoint.objects.filter(status=EndpointStatus.ENABLED, deleted_at__isnull=True).exists():
        # Nobody to send to: mark what is waiting without reading it.
        last = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first()
        if last is None:
            return FanOutResult(0, 0)
        marked = OutboxEvent.objects.filter(fanned_out_at__isnull=True, id__lte=last).update(
            fanned_out_at=now
        )
        return FanOutResult(marked, 0)
    rows = list(
        OutboxEvent.objects.filter(fanned_out_at__isnull=True)
        .order_by("id")
        .values_list("id", "event_id", "type", "payload", "created_at")[:limit]
    )
    if not rows:
        return FanOutResult(0, 0)
    client_ids = {_client_id_of(payload) for _, _, _, payload, _ in rows} - {None}
    endpoints_by_client: dict[int, list[WebhookEndpoint]] = {}
    if client_ids:
        for endpoint in WebhookEndpoint.objects.filter(
            client_id__in=client_ids, status=EndpointStatus.ENABLED, deleted_at__isnull=True
        ).only("id", "client_id", "events", "created_at"):
            endpoints_by_client.setdefault(endpoint.client_id, []).append(endpoint)
    deliveries = [
        WebhookDelivery(
            endpoint_id=endpoint.pk,
            outbox_event_id=row_id,
            event_id=event_id,
            event_type=event_type,
            next_attempt_at=now,
        )
        for row_id, event_id, event_type, payload, created_at in rows
        for endpoint in endpoints_by_client.get(_client_id_of(payload), ())
        if endpoint.created_at <= created_at and webhook_event_matches(endpoint.events, event_type)
    ]
    with transaction.atomic():
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=500)
        OutboxEvent.objects.filter(id__in=[row[0] for row in rows]).update(fanned_out_at=now)
    return FanOutResult(len(rows), len(deliveries))


def webhooks_fan_out_all(*, max_batches: int = 20) -> FanOutResult:
    """Fan-outs in batches until nothing waits (or max_batches)."""
    rows = deliveries = 0
    for _ in range(max_batches):
        result = webhooks_fan_out()
        rows, deliveries = rows + result.rows, deliveries + result.deliveries
        if result.rows < FAN_OUT_BATCH:
            break
    return FanOutResult(rows, deliveries)


def webhooks_fan_out_soon() -> None:
    """After an outbox commit: queues one fan-out task, unless one is queued
    and not started yet (it clears the mark before it reads rows, so it sees
    this commit's rows). Does nothing while no endpoint is enabled anywhere."""
    from payments.webhooks.tasks import webhooks_fan_out_task

    if not webhook_endpoints_exist():
        return
    try:
        first = cache.add(_FAN_OUT_QUEUED_KEY, 1, timeout=_FAN_OUT_QUEUED_SECONDS)
    except Exception:
        first = True
    if not first:
        return
    try:
        webhooks_fan_out_task.delay()
    except Exception:
        webhooks_fan_out_started()  # nothing queued: let the next commit try (the sweeper catches up)
        raise


def webhooks_fan_out_started() -> None:
    try:
        cache.delete(_FAN_OUT_QUEUED_KEY)
    except Exception:
        logger.debug("webhooks fan-out mark not cleared (cache unavailable); it expires on its own")


# --- dispatch and sending ------------------------------------------------------------------
