"""When the dj-stripe mirror runs: batched per burst, not one task per change.

A payment's PSP state changes once when it is charged and again with each
refund or capture. Each change used to queue one Celery task, and a soak at
40 requests/s grew that queue without bound. Now each change adds the
payment to a Redis set, and one task per burst (queued at most once every
DJSTRIPE_MIRROR_BATCH_SECONDS) mirrors every payment in the set, once, however
many times it changed meanwhile. The queue holds at most one mirror task; the
backlog is the set's size (`djstripe_mirror_backlog`, shown by `make soak`).

A payment leaves the set only after its sync was tried, so a worker that dies
mid-batch leaves the rest for the next one. Without a Redis cache (the embedded
default), each change queues its own task, as before.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("stripe_integration.mirror")

PENDING_KEY = "gw:djstripe:mirror-pending"
_QUEUED_KEY = "djstripe:mirror-queued"


def _redis():
    """The Redis behind the cache, or None when the cache is not Redis."""
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def djstripe_mirror_soon(*, payment_pk: int) -> None:
    """After commit: marks the payment for the next mirror batch, and queues one."""
    from stripe_integration.tasks import djstripe_sync_pending_task, djstripe_sync_task

    redis = _redis()
    if redis is None:
        djstripe_sync_task.delay(payment_pk)
        return
    redis.sadd(PENDING_KEY, payment_pk)
    if cache.add(_QUEUED_KEY, 1, timeout=settings.DJSTRIPE_MIRROR_BATCH_SECONDS + 60):
        djstripe_sync_pending_task.apply_async(countdown=settings.DJSTRIPE_MIRROR_BATCH_SECONDS)


def djstripe_mirror_backlog() -> int:
    redis = _redis()
    return int(redis.scard(PENDING_KEY)) if redis is not None else 0


def djstripe_mirror_pending(*, sync, batch: int = 100, budget_seconds: float = 30.0) -> int:
    """Mirrors the payments in the set with `sync(payment_pk)`, each once, until
    the set is empty or the time budget is spent; then, if any are left, queues
    the next batch. Returns how many were tried."""
    from stripe_integration.tasks import djstripe_sync_pending_task

    redis = _redis()
    if redis is None:
        return 0
    cache.delete(_QUEUED_KEY)  # changes from now on queue a new batch, which will see them
    tried = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        members = redis.srandmember(PENDING_KEY, batch)
        if not members:
            return tried
        for member in members:
            try:
                sync(int(member))
            except Exception:  # one payment's mirror never holds up the others
                logger.warning("dj-stripe sync of payment %s failed", int(member), exc_info=True)
            redis.srem(PENDING_KEY, member)
            tried += 1
    if redis.scard(PENDING_KEY) and cache.add(_QUEUED_KEY, 1, timeout=60):
        djstripe_sync_pending_task.apply_async()
    return tried
