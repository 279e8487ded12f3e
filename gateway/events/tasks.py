"""Celery tasks of the outbox: beat's sweeper. (Relaying after commit is
not a task: each shard's relay process waits for a wake-up, gateway.events.relay.)"""

from __future__ import annotations

from celery import shared_task

from gateway.core.periodic import periodic_run_lock
from gateway.events.outbox import outbox_sweep


@shared_task
def outbox_sweep_task() -> int | None:
    """Celery beat: publishes what no relay did, every shard in id order (a
    shard with no relay running, rows left in an old shard after OUTBOX_SHARDS
    changed, a relay down); rows a few relay polls old only, skipping any a
    relay holds (outbox_sweep). None when another sweep is running (gateway.core.periodic)."""
    with periodic_run_lock("outbox-sweep", ttl_seconds=45) as held:
        return outbox_sweep().published if held else None
