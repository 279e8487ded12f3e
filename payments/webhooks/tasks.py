"""Celery tasks of webhooks to merchants, on their own queue (`webhooks`), so
that a slow or dead receiver never holds up the Kafka relay or a payer's work.
Each takes ids and calls a service; running one twice is harmless."""

from __future__ import annotations

from celery import shared_task

from gateway.core.periodic import periodic_run_lock
from payments.webhooks.services import (
    webhook_endpoint_deliver,
    webhooks_dispatch,
    webhooks_fan_out_all,
    webhooks_fan_out_started,
    webhooks_sweep,
)


@shared_task(acks_late=True)
def webhooks_fan_out_task() -> int:
    """Queued after an outbox commit (webhooks_fan_out_soon): deliveries for
    the new events, then a sender for each endpoint with due ones."""
    webhooks_fan_out_started()
    created = webhooks_fan_out_all().deliveries
    webhooks_dispatch()
    return created


@shared_task(acks_late=True)
def webhook_endpoint_deliver_task(endpoint_id: int) -> int:
    """One endpoint's sender: its due deliveries, one at a time (see
    webhook_endpoint_deliver). Returns how many were delivered."""
    return webhook_endpoint_deliver(endpoint_id=endpoint_id).succeeded


@shared_task
def webhooks_sweep_task() -> dict | None:
    """Celery beat, every WEBHOOK_SWEEP_SECONDS: retries when due, fan-outs the
    after-commit tasks missed, disabling. None when another sweep is running."""
    with periodic_run_lock("webhooks-sweep", ttl_seconds=60) as held:
        return webhooks_sweep() if held else None
