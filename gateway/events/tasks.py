"""Celery tasks of the project package: the outbox relay."""

from __future__ import annotations

from celery import shared_task

from gateway.core.periodic import periodic_run_lock
from gateway.events.outbox import outbox_publish_started, outbox_relay


@shared_task(acks_late=True)
def outbox_publish_task() -> int:
    """Queued after commit (outbox_publish_soon). Relays every waiting row in
    order. Running it twice publishes nothing twice."""
    outbox_publish_started()
    # What is left is not counted here (a query per task): the sweeper and make soak count it.
    return outbox_relay(respect_backoff=True, count_pending=False).published


@shared_task
def outbox_sweep_task() -> int | None:
    """Celery beat: publishes what the after-commit tasks could not (broker or
    worker down). None when another sweep is running (gateway.core.periodic)."""
    with periodic_run_lock("outbox-sweep", ttl_seconds=45) as held:
        return outbox_relay().published if held else None
