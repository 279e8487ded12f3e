"""At most one run at a time of a periodic task, across every beat and worker.

Exactly one Celery beat should run, but during a deploy or a failover two can
overlap, and a slow run can outlast its interval. Each periodic task takes a
lock in the shared cache (Redis) for its run; a run that finds it taken does
nothing and says so. The lock is an economy, not the guarantee: every periodic
task is also safe to run twice at once (the outbox relay locks its rows,
reconciliation and OTP expiry lock each payment and re-check its status), and
gateway/tests/test_periodic_concurrency.py runs them so, with the lock off.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from django.core.cache import cache

logger = logging.getLogger("gateway.periodic")


@contextlib.contextmanager
def periodic_run_lock(name: str, *, ttl_seconds: int):
    """Yields True when this run holds the lock, False when another run does.
    The lock expires after ttl_seconds, so a killed run never blocks the next
    ones for long. Without the cache (Redis down), runs go ahead: they are safe
    to overlap."""
    key = f"periodic:{name}"
    token = uuid.uuid4().hex
    try:
        held = cache.add(key, token, timeout=ttl_seconds)
    except Exception:
        logger.warning("Periodic task %s runs without its lock (cache unavailable)", name)
        held = True
        token = None
    if not held:
        logger.info("Periodic task %s skipped: another run holds its lock", name)
    try:
        yield held
    finally:
        if held and token is not None:
            try:
                if cache.get(key) == token:  # never release a lock that expired and was taken again
                    cache.delete(key)
            except Exception:
                logger.debug("Periodic lock %s not released; it expires on its own", name)
