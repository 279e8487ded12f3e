"""Webhooks services: the only writers of endpoints and deliveries.

The path of an event: a change commits its outbox row (gateway.events);
outbox_committed asks for a fan-out (receivers.py), which writes one delivery
per subscribed endpoint of the payment's client and marks the row; dispatch
gives each endpoint with due deliveries one sender task; the sender posts them
one at a time, in id order, and records each attempt. After a failure the
endpoint backs off: its other deliveries wait for the failed one's retry, so a
dead endpoint costs one timeout per retry, not one per delivery. No database
transaction or lock is held across an HTTP call. A crash mid-send leaves the
delivery pending, and it is sent again: delivery is at least once, and
receivers deduplicate on webhook-id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateway.errors import InvalidRequest
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_record
from payments.kafka_events import EVENT_TYPES, topics_for
from payments.models import ApiClient
from payments.webhooks import net
from payments.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.selectors import webhook_endpoints_exist, webhook_endpoints_exist_forget
from payments.webhooks.signing import webhook_headers, webhook_secret_new

logger = logging.getLogger("payments.webhooks")

MAX_ENDPOINTS_PER_CLIENT = 16  # as Stripe
MAX_EVENTS_PER_ENDPOINT = 50
PREVIOUS_SECRET_HOURS = 24
HISTORY_KEPT = 10
DISABLED_EVENT = "webhook_endpoint.disabled"
# One sender task posts at most this many deliveries, for at most this long,
# then queues the next one: a busy endpoint does not keep a worker to itself.
SEND_BATCH = 50
SEND_BUDGET_SECONDS = 60
FAN_OUT_BATCH = 500
_FAN_OUT_QUEUED_KEY = "webhooks:fan-out-queued"
_FAN_OUT_QUEUED_SECONDS = 10
_SENDER_QUEUED_SECONDS = 60


# --- endpoints ---------------------------------------------------------------------------


def webhook_url_ensure_allowed(url: str) -> str:
    """The URL as it will be used, or a 400 saying why it may not be."""
    url = url.strip()
    try:
        net.url_target(url, allow_local=settings.WEBHOOK_ALLOW_LOCAL_URLS)
    except net.UrlNotAllowed as exc:
        raise InvalidRequest(
            f"This URL cannot receive webhooks: {exc}.", code="webhook_url_not_allowed", param="url"
        ) from None
    return url


def webhook_events_normalize(events: list[str]) -> list[str]:
    """Each event: "*", a type ("payment.succeeded") or a prefix ("refund.*")."""
    prefixes = {event_type.split(".", 1)[0] for event_type in EVENT_TYPES}
    normalized: list[str] = []
    for event in events:
        event = event.strip()
        known = event == "*" or event in EVENT_TYPES or (event.endswith(".*") and event[:-2] in prefixes)
        if not known:
            raise InvalidRequest(
                f'Unknown event type: {event!r}. Use "*", a type such as "payment.succeeded", '
                f'or a prefix such as "refund.*".',
                code="unknown_event_type",
                param="events",
            )
        if event not in normalized:
            normalized.append(event)
    if not normalized:
        raise InvalidRequest("Subscribe to at least one event type.", code="invalid_request", param="events")
    return normalized


def webhook_event_matches(patterns: list[str], event_type: str) -> bool:
    return any(
        pattern == "*"
        or pattern == event_type
        or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
        for pattern in patterns
    )


def webhook_endpoint_create(
    *, client: ApiClient, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    """A new endpoint, enabled, with a new secret (on .secret: shown to the client once)."""
    url = webhook_url_ensure_allowed(url)
    events = webhook_events_normalize(events)
    with transaction.atomic():
        # The client's row serializes its creations, so the cap holds under concurrency.
        ApiClient.objects.select_for_update().filter(pk=client.pk).first()
        if (
            WebhookEndpoint.objects.filter(client=client, deleted_at__isnull=True).count()
            >= MAX_ENDPOINTS_PER_CLIENT
        ):
            raise InvalidRequest(
                f"A client may have at most {MAX_ENDPOINTS_PER_CLIENT} webhook endpoints; delete one first.",
                code="webhook_endpoint_limit_reached",
            )
        endpoint = WebhookEndpoint.objects.create(
            public_id=f"we_{secrets.token_hex(12)}",
            client=client,
            url=url,
            description=description,
            events=events,
            secret=webhook_secret_new(),
        )
        transaction.on_commit(webhook_endpoints_exist_forget)
    logger.info("Webhook endpoint %s created for client %s: %s", endpoint.public_id, client.pk, url)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Hides the endpoint from the API and stops its deliveries; its log stays."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if endpoint.deleted_at is None:
            endpoint.deleted_at = timezone.now()
            endpoint.save(update_fields=["deleted_at"])
            _pending_deliveries_fail(endpoint=endpoint, reason="endpoint deleted")
            transaction.on_commit(webhook_endpoints_exist_forget)
    logger.info("Webhook endpoint %s deleted", endpoint.public_id)
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret (on .secret, shown once); the one before keeps signing
    beside it for PREVIOUS_SECRET_HOURS, so receivers can switch without a gap."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=PREVIOUS_SECRET_HOURS)
        endpoint.secret = webhook_secret_new()
        endpoint.save(update_fields=["previous_secret", "previous_secret_expires_at", "secret"])
    logger.info("Webhook endpoint %s: secret rotated", endpoint.public_id)
    return endpoint


def webhook_secrets_in_force(endpoint: WebhookEndpoint) -> list[str]:
    in_force = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > timezone.now():
        in_force.append(endpoint.previous_secret)
    return in_force


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> WebhookEndpoint:
    """Disables the endpoint, fails its pending deliveries, and says so in the
    outbox (webhook_endpoint.disabled, to Kafka) and the log. In the caller's
    transaction, on a row it locked."""
    now = timezone.now()
    endpoint.status = EndpointStatus.DISABLED
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:200]
    endpoint.backoff_until = None
    endpoint.save(update_fields=["status", "disabled_at", "disabled_reason", "backoff_until"])
    _pending_deliveries_fail(endpoint=endpoint, reason="endpoint disabled")
    event_id = uuid.uuid4()
    outbox_record(
        event_id=event_id,
        event_type=DISABLED_EVENT,
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint.public_id,
        topics=topics_for(DISABLED_EVENT),
        payload={
            "id": str(event_id),
            "type": DISABLED_EVENT,
            "version": 1,
            "occurred_at": now.isoformat(),
            "webhook_endpoint": {
                "id": endpoint.public_id,
                "client_id": endpoint.client_id,
                "url": net.url_for_log(endpoint.url),
                "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
                "reason": endpoint.disabled_reason,
            },
        },
    )
    transaction.on_commit(webhook_endpoints_exist_forget)
    logger.warning(
        "Webhook endpoint %s (client %s, %s) disabled: %s",
        endpoint.public_id,
        endpoint.client_id,
        net.url_for_log(endpoint.url),
        reason,
    )
    return endpoint


def webhook_endpoints_disable_failing() -> int:
    """Disables every enabled endpoint whose attempts have all failed for
    WEBHOOK_DISABLE_AFTER_HOURS (the sweeper; a failed attempt checks its own)."""
    cutoff = timezone.now() - timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    disabled = 0
    candidates = WebhookEndpoint.objects.filter(
        status=EndpointStatus.ENABLED, deleted_at__isnull=True, failing_since__lte=cutoff
    ).values_list("pk", flat=True)
    for pk in list(candidates[:100]):
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=pk)
            if _should_disable(endpoint, cutoff):
                webhook_endpoint_disable(endpoint=endpoint, reason=_failing_reason())
                disabled += 1
    return disabled


def _should_disable(endpoint: WebhookEndpoint, cutoff) -> bool:
    return (
        endpoint.status == EndpointStatus.ENABLED
        and endpoint.deleted_at is None
        and endpoint.failing_since is not None
        and endpoint.failing_since <= cutoff
    )


def _failing_reason() -> str:
    return f"every attempt failed for {settings.WEBHOOK_DISABLE_AFTER_HOURS:g} hours"


def _pending_deliveries_fail(*, endpoint: WebhookEndpoint, reason: str) -> None:
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=reason
    )


# --- fan-out: outbox rows -> deliveries ------------------------------------------------------


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
    result = net.webhook_post(
        url=endpoint.url,
        body=body,
        headers=headers,
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
        if not result.ok and _should_disable(endpoint, cutoff):
            webhook_endpoint_disable(endpoint=endpoint, reason=_failing_reason())
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


def webhooks_sweep() -> dict:
    """The periodic run: fan-outs an after-commit task missed (the broker was
    down), disables endpoints failing too long, and dispatches what is due."""
    fan_out = webhooks_fan_out_all()
    disabled = webhook_endpoints_disable_failing()
    queued = webhooks_dispatch()
    return {
        "fanned_out": fan_out.rows,
        "deliveries": fan_out.deliveries,
        "disabled": disabled,
        "queued": queued,
    }
