"""Sending: dispatch gives each endpoint with due deliveries one sender, which posts them
one at a time and records each attempt; resend."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateway.core.tracing import tracing_continue
from payments.webhooks import net
from payments.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.services.endpoints import (
    endpoint_failing_reason,
    endpoint_should_be_disabled,
    webhook_endpoint_disable,
    webhook_secrets_in_force,
)
from payments.webhooks.signing import webhook_headers

logger = logging.getLogger("payments.webhooks")

HISTORY_KEPT = 10
# One sender task posts at most this many deliveries, for at most this long,
# then queues the next one: a busy endpoint does not keep a worker to itself.
SEND_BATCH = 50
SEND_BUDGET_SECONDS = 60
_SENDER_QUEUED_SECONDS = 60


def _sender_lock_key(endpoint_id: int) -> str:
    return f"webhooks:sender:{endpoint_id}"


def _sender_queued_key(endpoint_id: int) -> str:
    return f"webhooks:sender-queued:{endpoint_id}"


def _sender_lock_seconds() -> int:
    return int(settings.WEBHOOK_TIMEOUT_SECONDS) + 30


@contextlib.contextmanager
def endpoint_sender_lock(endpoint_id: int):
    """At most one sender per endpoint at a time, across every worker. Yields
    (held, refresh): refresh() extends the lock before each attempt. It
    expires on its own if its holder dies."""
    key, token = _sender_lock_key(endpoint_id), uuid.uuid4().hex
    try:
        held = cache.add(key, token, timeout=_sender_lock_seconds())
    except Exception:
        logger.warning("Webhook sender of endpoint %s runs without its lock (cache unavailable)", endpoint_id)
        held, token = True, None

    def refresh() -> None:
        if token is not None:
            with contextlib.suppress(Exception):
                cache.set(key, token, timeout=_sender_lock_seconds())

    try:
        yield held, refresh
    finally:
        if held and token is not None:
            with contextlib.suppress(Exception):
                if cache.get(key) == token:
                    cache.delete(key)


def webhooks_dispatch() -> int:
    """Queues one sender task for each endpoint with due deliveries that is
    enabled, not backing off, and has no sender running or queued. Returns how
    many were queued."""
    from payments.webhooks.tasks import webhook_endpoint_deliver_task

    now = timezone.now()
    endpoint_ids = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now,
            endpoint__status=EndpointStatus.ENABLED,
            endpoint__deleted_at__isnull=True,
        )
        .filter(Q(endpoint__backoff_until__isnull=True) | Q(endpoint__backoff_until__lte=now))
        .values_list("endpoint_id", flat=True)
        .distinct()[:1000]
    )
    queued = 0
    for endpoint_id in endpoint_ids:
        if not _sender_wanted(endpoint_id):
            continue
        webhook_endpoint_deliver_task.delay(endpoint_id)
        queued += 1
    return queued


def _sender_wanted(endpoint_id: int) -> bool:
    """No sender runs for the endpoint, and this caller is the one to queue it."""
    try:
        if cache.get(_sender_lock_key(endpoint_id)) is not None:
            return False
        return bool(cache.add(_sender_queued_key(endpoint_id), 1, timeout=_SENDER_QUEUED_SECONDS))
    except Exception:
        return True  # no cache: queue anyway; the sender's own lock is then the only guard


@dataclass(frozen=True)
class SendResult:
    succeeded: int = 0
    failed: int = 0
    more: bool = False  # stopped at the batch or time budget with deliveries still due


def webhook_endpoint_deliver(*, endpoint_id: int) -> SendResult:
    """Sends the endpoint's due deliveries one at a time, oldest first, under
    the endpoint's sender lock; stops at the first failure (the endpoint then
    backs off). When stopped by its budget, queues its successor."""
    with contextlib.suppress(Exception):
        cache.delete(_sender_queued_key(endpoint_id))
    succeeded = failed = 0
    more = False
    with endpoint_sender_lock(endpoint_id) as (held, refresh):
        if not held:
            return SendResult()
        deadline = time.monotonic() + SEND_BUDGET_SECONDS
        due = _due_delivery_ids(endpoint_id, limit=SEND_BATCH + 1)
        for position, delivery_id in enumerate(due):
            if position == SEND_BATCH or time.monotonic() > deadline:
                more = True
                break
            refresh()
            outcome = webhook_delivery_send(delivery_id=delivery_id)
            if outcome is None:
                continue  # no longer due (resent, failed by a delete): next
            if not outcome:
                failed += 1
                break
            succeeded += 1
    if more:
        webhooks_dispatch()
    return SendResult(succeeded, failed, more)


def _due_delivery_ids(endpoint_id: int, *, limit: int) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def webhook_body(payload) -> bytes:
    """The body, byte for byte as the Kafka relay publishes it (gateway.events.outbox._send)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def webhook_delivery_send(*, delivery_id: int) -> bool | None:
    """One attempt of one delivery: True delivered, False failed, None when it
    is not due (or its endpoint may not be sent to). Reads, then posts with no
    transaction open, then records the attempt and the next state together."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "outbox_event").filter(pk=delivery_id).first()
    )
    now = timezone.now()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    endpoint = delivery.endpoint
    if (
        endpoint.status != EndpointStatus.ENABLED
        or endpoint.deleted_at is not None
        or (endpoint.backoff_until is not None and endpoint.backoff_until > now)
        or (delivery.next_attempt_at is not None and delivery.next_attempt_at > now)
    ):
        return None
    body = webhook_body(delivery.outbox_event.payload)
    headers = webhook_headers(
        secrets_in_force=webhook_secrets_in_force(endpoint),
        msg_id=str(delivery.event_id),
        timestamp=int(now.timestamp()),
        body=body,
    )
    # The trace of the request that wrote the event goes on to the merchant (W3C traceparent).
    traced = {"webhook.event_type": delivery.event_type}
    with tracing_continue(
        delivery.outbox_event.traceparent, "webhook deliver", kind="client", attributes=traced
    ) as carry:
        result = net.webhook_post(
            url=endpoint.url,
            body=body,
            headers={**headers, **carry},
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_local=settings.WEBHOOK_ALLOW_LOCAL_URLS,
        )
    webhook_attempt_record(delivery_id=delivery.pk, endpoint_id=endpoint.pk, attempted_at=now, result=result)
    return result.ok


def webhook_attempt_record(
    *, delivery_id: int, endpoint_id: int, attempted_at, result: net.PostResult
) -> WebhookDelivery:
    """Records one attempt and what follows from it, in one transaction: the
    delivery's next state (succeeded, a retry by WEBHOOK_RETRY_SCHEDULE, or
    failed after its last), the endpoint's run of failures and backoff, and
    disabling it after WEBHOOK_DISABLE_AFTER_HOURS of failures only."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    with transaction.atomic():
        # The endpoint first, then the delivery: the order every writer locks them in.
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_duration_ms = result.duration_ms
        delivery.last_error = result.error
        delivery.attempt_history = [
            *(delivery.attempt_history or []),
            {
                "at": attempted_at.isoformat(),
                "status_code": result.status_code,
                "duration_ms": result.duration_ms,
                "error": result.error,
            },
        ][-HISTORY_KEPT:]
        endpoint_fields: list[str] = []
        if result.ok:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            if endpoint.failing_since is not None or endpoint.backoff_until is not None:
                endpoint.failing_since = endpoint.backoff_until = None
                endpoint_fields = ["failing_since", "backoff_until"]
        else:
            if delivery.status == DeliveryStatus.PENDING:
                if delivery.attempts <= len(schedule):
                    delivery.next_attempt_at = now + timedelta(seconds=schedule[delivery.attempts - 1])
                else:
                    delivery.status = DeliveryStatus.FAILED
                    delivery.next_attempt_at = None
            endpoint.failing_since = endpoint.failing_since or attempted_at
            # The endpoint's other deliveries wait for this one's retry (after
            # its last, the schedule's longest step).
            endpoint.backoff_until = delivery.next_attempt_at or now + timedelta(seconds=max(schedule))
            endpoint_fields = ["failing_since", "backoff_until"]
        delivery.save(
            update_fields=[
                "attempts",
                "last_status_code",
                "last_duration_ms",
                "last_error",
                "attempt_history",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        if endpoint_fields:
            endpoint.save(update_fields=endpoint_fields)
        cutoff = now - timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
        if not result.ok and endpoint_should_be_disabled(endpoint, cutoff):
            webhook_endpoint_disable(endpoint=endpoint, reason=endpoint_failing_reason())
    if not result.ok:
        logger.info(
            "Webhook %s %s to endpoint %s failed (attempt %s): %s",
            delivery.event_type,
            delivery.event_id,
            endpoint.public_id,
            delivery.attempts,
            result.error,
        )
    return delivery


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> bool:
    """An operator's resend: the delivery is pending again and due now, and
    its endpoint's backoff is lifted. False when the endpoint is disabled or
    deleted (nothing is sent there)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        if endpoint.status != EndpointStatus.ENABLED or endpoint.deleted_at is not None:
            return False
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at"])
        if endpoint.backoff_until is not None:
            endpoint.backoff_until = None
            endpoint.save(update_fields=["backoff_until"])
        transaction.on_commit(webhooks_dispatch, robust=True)
    return True
