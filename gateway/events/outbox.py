"""Record events in the outbox (same transaction as the change) and relay them to Kafka."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from gateway.events.models import OutboxEvent
from gateway.events.producer import kafka_producer, kafka_producer_reset
from gateway.events.schema import event_body, event_type_for, topics_for
from gateway.kafka import kafka_enabled

logger = logging.getLogger("gateway.events")

_BACKOFF_KEY = "outbox:backoff"


def outbox_record_timeline_event(*, timeline_event) -> OutboxEvent | None:
    """Writes the outbox row for one timeline entry, in the caller's transaction,
    and asks for a publish once that transaction commits."""
    from payments.models import Refund

    event_type = event_type_for(timeline_event.type, timeline_event.status_after)
    if event_type is None:
        return None
    payment = timeline_event.payment
    refund_id = (timeline_event.data or {}).get("refund_id")
    refund = Refund.objects.filter(public_id=refund_id).first() if refund_id else None
    event_id = uuid.uuid4()
    row = OutboxEvent.objects.create(
        event_id=event_id,
        type=event_type,
        aggregate_type="payment",
        aggregate_id=payment.public_id,
        topics=topics_for(event_type),
        payload=event_body(
            event_id=str(event_id),
            event_type=event_type,
            occurred_at=timezone.now(),
            payment=payment,
            refund=refund,
            actor=timeline_event.actor,
            request_id=timeline_event.request_id,
            details=timeline_event.data or {},
        ),
    )
    # robust: if the broker of Celery is down the change still commits; the sweeper publishes.
    transaction.on_commit(lambda: _enqueue_publish(row.pk), robust=True)
    return row


def _enqueue_publish(outbox_pk: int) -> None:
    from gateway.tasks import outbox_publish_task

    outbox_publish_task.delay(outbox_pk)


@dataclass(frozen=True)
class RelayResult:
    published: int
    pending: int
    error: str = ""


def outbox_pending_count() -> int:
    return OutboxEvent.objects.filter(published_at__isnull=True).count()


def outbox_relay(*, limit: int = 500, respect_backoff: bool = False) -> RelayResult:
    """Publishes unpublished rows in id order, so one payment's events keep their order.

    The rows are locked while they are published, so two relays (the
    after-commit task and the sweeper, or two workers) never publish the same
    row twice. A row is marked published, with the partition and offset Kafka
    returned, only after every one of its topics acknowledged it (acks=all).
    Delivery is still at-least-once (a crash between Kafka's ack and our commit
    publishes again), and the event id is how consumers deduplicate.
    """
    if not kafka_enabled():
        return RelayResult(0, outbox_pending_count(), "KAFKA_BROKERS is not set")
    if respect_backoff and cache.get(_BACKOFF_KEY):
        return RelayResult(0, outbox_pending_count(), "backing off after a failed publish")
    published, error = 0, ""
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update().filter(published_at__isnull=True).order_by("id")[:limit]
        )
        timeout = settings.KAFKA_REQUEST_TIMEOUT_MS / 1000
        for row in rows:
            try:
                producer = kafka_producer()
                headers = [
                    ("event_type", row.type.encode()),
                    ("event_id", str(row.event_id).encode()),
                    ("version", str(row.version).encode()),
                ]
                value = json.dumps(row.payload, separators=(",", ":")).encode()
                futures = [
                    producer.send(topic, key=row.aggregate_id.encode(), value=value, headers=headers)
                    for topic in row.topics
                ]
                acks = [future.get(timeout=timeout) for future in futures]
            except Exception as exc:  # kafka-python raises many types; all mean "not now"
                error = f"{type(exc).__name__}: {exc}"[:500]
                row.attempts += 1
                row.last_error = error
                row.save(update_fields=["attempts", "last_error"])
                cache.set(_BACKOFF_KEY, 1, settings.OUTBOX_BACKOFF_SECONDS)
                kafka_producer_reset()
                logger.warning(
                    "Kafka publish failed; %s event(s) wait in the outbox: %s", len(rows) - published, error
                )
                break  # the rest keep their order and wait for the next relay
            row.published_at = timezone.now()
            row.attempts += 1
            row.last_error = ""
            row.kafka_partition, row.kafka_offset = acks[0].partition, acks[0].offset
            row.save(
                update_fields=["published_at", "attempts", "last_error", "kafka_partition", "kafka_offset"]
            )
            published += 1
            logger.info(
                "Published %s %s for %s to %s (partition %s, offset %s)",
                row.type,
                row.event_id,
                row.aggregate_id,
                ",".join(row.topics),
                acks[0].partition,
                acks[0].offset,
            )
    if published and not error:
        cache.delete(_BACKOFF_KEY)
    return RelayResult(published, outbox_pending_count(), error)


def outbox_replay(*, payment_id: str | None = None, since=None) -> int:
    """Publishes stored events again (same event ids: consumers deduplicate).
    Marks them unpublished and relays them in their original order."""
    rows = OutboxEvent.objects.all()
    if payment_id:
        rows = rows.filter(aggregate_id=payment_id)
    if since:
        rows = rows.filter(created_at__gte=since)
    count = rows.update(published_at=None)
    outbox_relay(limit=max(count, 1))
    return count
