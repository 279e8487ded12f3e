"""Webhooks selectors: reads."""

from __future__ import annotations

import contextlib
import time

from django.core.cache import cache
from django.db.models import QuerySet

from gateway.core.errors import InvalidRequest, NotFound
from payments.models import ApiClient
from payments.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint

_ANY_ENABLED_KEY = "webhooks:any-enabled"
_ANY_ENABLED_SECONDS = 30
# Per process, on top of the shared cache: a commit costs no round trip to Redis
# to learn that nobody subscribed. An endpoint just made is seen within this
# long by the after-commit path, and by the sweeper within WEBHOOK_SWEEP_SECONDS.
_LOCAL_SECONDS = 1.0
_local: dict[str, tuple[float, bool]] = {}


def webhook_endpoint_list(*, client: ApiClient) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(client=client, deleted_at__isnull=True)


def webhook_endpoint_get_for_client(*, client: ApiClient, public_id: str) -> WebhookEndpoint:
    """One of the client's endpoints; another client's is a 404, like an unknown one."""
    endpoint = webhook_endpoint_list(client=client).filter(public_id=public_id).first()
    if endpoint is None:
        raise NotFound(f"No such webhook endpoint: {public_id}.", param="id")
    return endpoint


def webhook_delivery_list(
    *, endpoint: WebhookEndpoint, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    if status:
        if status not in DeliveryStatus.values:
            raise InvalidRequest(
                f"status must be one of {', '.join(DeliveryStatus.values)}.",
                code="invalid_status",
                param="status",
            )
        deliveries = deliveries.filter(status=status)
    return deliveries


def webhook_endpoints_exist() -> bool:
    """Whether any endpoint is enabled, anywhere: when none is, a commit asks
    for no fan-out. Cached; webhook_endpoints_exist_forget() drops it when
    endpoints change. The database answers when the cache cannot."""
    now = time.monotonic()
    local = _local.get(_ANY_ENABLED_KEY)
    if local is not None and local[0] > now:
        return local[1]
    try:
        cached = cache.get(_ANY_ENABLED_KEY)
    except Exception:
        cached = None
    if cached is None:
        exists = WebhookEndpoint.objects.filter(
            status=EndpointStatus.ENABLED, deleted_at__isnull=True
        ).exists()
        with contextlib.suppress(Exception):  # the cache is down: asked again next time
            cache.set(_ANY_ENABLED_KEY, int(exists), timeout=_ANY_ENABLED_SECONDS)
    else:
        exists = bool(cached)
    _local[_ANY_ENABLED_KEY] = (now + _LOCAL_SECONDS, exists)
    return exists


def webhook_endpoints_exist_forget() -> None:
    _local.clear()
    with contextlib.suppress(Exception):  # it expires within _ANY_ENABLED_SECONDS
        cache.delete(_ANY_ENABLED_KEY)
