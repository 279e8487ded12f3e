"""Celery tasks of the project package: the outbox relay."""

from __future__ import annotations

from celery import shared_task

from gateway.events.outbox import outbox_relay


@shared_task(acks_late=True)
def outbox_publish_task(outbox_pk: int) -> int:
    """Enqueued after commit. Relays the outbox in order (this row and any
    older one still waiting). Running it twice publishes nothing twice."""
    return outbox_relay(respect_backoff=True).published


@shared_task
def outbox_sweep_task() -> int:
    """Celery beat: publishes what the after-commit tasks could not (broker or worker down)."""
    return outbox_relay().published
