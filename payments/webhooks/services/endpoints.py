"""Webhook endpoints: create, delete, rotate the secret, disable one failing too long."""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.core.errors import InvalidRequest
from gateway.events.outbox import outbox_record
from payments.kafka_events import EVENT_TYPES, topics_for
from payments.models import ApiClient
from payments.webhooks import net
from payments.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.selectors import webhook_endpoints_exist_forget
from payments.webhooks.signing import webhook_secret_new

logger = logging.getLogger("payments.webhooks")

MAX_ENDPOINTS_PER_CLIENT = 16  # as Stripe
MAX_EVENTS_PER_ENDPOINT = 50
PREVIOUS_SECRET_HOURS = 24
DISABLED_EVENT = "webhook_endpoint.disabled"

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
            if endpoint_should_be_disabled(endpoint, cutoff):
                webhook_endpoint_disable(endpoint=endpoint, reason=endpoint_failing_reason())
                disabled += 1
    return disabled


def endpoint_should_be_disabled(endpoint: WebhookEndpoint, cutoff) -> bool:
    return (
        endpoint.status == EndpointStatus.ENABLED
        and endpoint.deleted_at is None
        and endpoint.failing_since is not None
        and endpoint.failing_since <= cutoff
    )


def endpoint_failing_reason() -> str:
    return f"every attempt failed for {settings.WEBHOOK_DISABLE_AFTER_HOURS:g} hours"


def _pending_deliveries_fail(*, endpoint: WebhookEndpoint, reason: str) -> None:
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=reason
    )


# --- fan-out: outbox rows -> deliveries ------------------------------------------------------
