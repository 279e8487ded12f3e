"""At most one run at a time of a periodic task, across every beat and worker.

Exactly one Celery beat should run, but during a deploy or a failover two can
overlap, and a slow run can outlast its interval. Each periodic task takes a
lock in Redis for its run; a run that finds it taken does nothing and says so.
The lock is an economy, not the guarantee: every periodic task is also safe to
run twice at once (the outbox relay locks its rows, reconciliation and OTP
expiry lock each payment and re-check its status), and
gateway/tests/test_periodic_concurrency.py runs them so, with the lock off.
"""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("gateway.core.periodic")


def _redis():
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


@contextlib.contextmanager
def periodic_run_lock(name: str, *, ttl_seconds: int):
    """Yields True when this run holds the lock, False when another run does.
    The lock expires after ttl_seconds, so a killed run blocks the next ones
    that long at most. redis-py's Lock (a token, released only by its holder:
    a lock that expired and was taken by another run is never released by the
    first one). Without Redis (down, or the embedded default's local-memory
    cache), runs go ahead: they are safe to overlap."""
    key = f"gw:periodic:{name}"
    redis = _redis()
    lock, token = None, None
    try:
        if redis is not None:
            lock = redis.lock(key, timeout=ttl_seconds, blocking=False)
            held = lock.acquire()
        else:
            token = object().__repr__()  # unique enough within the one process of this cache
            held = cache.add(key, token, timeout=ttl_seconds)
    except Exception:
        logger.warning("Periodic task %s runs without its lock (Redis unavailable)", name)
        held, lock, redis = True, None, None
        key = ""
    if not held:
        logger.info("Periodic task %s skipped: another run holds its lock", name)
    try:
        yield held
    finally:
        if held and key:
            try:
                if lock is not None:
                    lock.release()
                elif cache.get(key) == token:
                    cache.delete(key)
            except Exception:
                logger.debug("Periodic lock %s not released; it expires on its own", name)
