"""When the dj-stripe mirror runs: batched per burst, not one task per change.

A payment's PSP state changes once when it is charged and again with each
refund or capture. Each change used to queue one Celery task, and a soak at
40 requests/s grew that queue without bound. Now each change adds the
payment to a Redis set and queues a batch task, unless one is already queued
(a mark in the cache). The batch mirrors every payment in the set once,
however many times it changed meanwhile. The backlog is the set's size
(`djstripe_mirror_backlog`, shown by `make soak`).

- One batch runs at a time (a periodic_run_lock); it takes payments out of the
  set one by one, before it syncs them, so a change that comes during a sync
  puts the payment back and it is mirrored again. A batch task that finds
  another running comes back after the batch window.
- A sync that fails puts its payment back for the next batch, up to
  MAX_ATTEMPTS times; then it is logged and left to dj-stripe's own sync.
- Celery beat looks every minute (`djstripe-mirror-sweep`) and queues a batch
  when payments wait and none is queued, so a payment left in the set when a
  batch could not be queued (the broker was down, or lost it) is mirrored anyway,
  a minute or two later.
- A worker killed in the middle of a sync loses that one payment's mirror
  until its next change; nothing about the payment itself depends on it.

Without a Redis cache (the embedded default), each change queues its own task.

That is DJSTRIPE_MIRROR=batch. The default, lazy, mirrors nothing after a
change: dj-stripe's sync costs ~25 queries and 10-24 ms of CPU per payment,
more than the rest of the payment's background work together (issue #16). An
operator mirrors on demand instead: the admin action "Mirror into dj-stripe"
queues the selected payments for a batch (djstripe_mirror_request), and
`manage.py djstripe_mirror` mirrors payments at once.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

from gateway.core.periodic import periodic_run_lock

logger = logging.getLogger("stripe_integration.mirror")

PENDING_KEY = "gw:djstripe:mirror-pending"
ATTEMPTS_KEY = "gw:djstripe:mirror-attempts"
MAX_ATTEMPTS = 5
_QUEUED_KEY = "djstripe:mirror-queued"


def _redis():
    """The Redis behind the cache, or None when the cache is not Redis."""
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def djstripe_mirror_soon(*, payment_pk: int) -> None:
    """After commit: marks the payment for the next mirror batch, and queues one."""
    from stripe_integration.mirror.tasks import djstripe_sync_pending_task, djstripe_sync_task

    redis = _redis()
    if redis is None:
        djstripe_sync_task.delay(payment_pk)
        return
    redis.sadd(PENDING_KEY, payment_pk)
    if cache.add(_QUEUED_KEY, 1, timeout=settings.DJSTRIPE_MIRROR_BATCH_SECONDS + 60):
        try:
            djstripe_sync_pending_task.apply_async(countdown=settings.DJSTRIPE_MIRROR_BATCH_SECONDS)
        except Exception:
            cache.delete(_QUEUED_KEY)  # nothing is queued: the next change (or beat's sweep) queues one
            raise


def djstripe_mirror_request(*, payment_pks: list[int]) -> int:
    """On demand (lazy or batch): queues these payments for the next mirror
    batch. Returns how many; raises InvalidRequest when the mirror is off."""
    from gateway.core.errors import InvalidRequest

    if settings.DJSTRIPE_MIRROR == "off":
        raise InvalidRequest("The dj-stripe mirror is off (DJSTRIPE_MIRROR=off).", code="mirror_off")
    for payment_pk in payment_pks:
        djstripe_mirror_soon(payment_pk=payment_pk)
    return len(payment_pks)


def djstripe_mirror_sweep() -> bool:
    """Celery beat, every minute: queues a batch when payments wait in the set and
    none is queued (one could not be queued: the broker was down, or lost it)."""
    from stripe_integration.mirror.tasks import djstripe_sync_pending_task

    if not djstripe_mirror_backlog():
        return False
    if not cache.add(_QUEUED_KEY, 1, timeout=settings.DJSTRIPE_MIRROR_BATCH_SECONDS + 60):
        return False
    djstripe_sync_pending_task.apply_async()
    return True


def djstripe_mirror_backlog() -> int:
    redis = _redis()
    return int(redis.scard(PENDING_KEY)) if redis is not None else 0


def djstripe_mirror_pending(*, sync, budget_seconds: float = 30.0) -> int | None:
    """Mirrors the payments in the set with `sync(payment_pk)` (which raises when
    it fails), until the set is empty or the time budget is spent; then, if any
    are left, queues the next batch. Returns how many were tried, or None when
    another batch is running (it goes on until the set is empty)."""
    from stripe_integration.mirror.tasks import djstripe_sync_pending_task

    redis = _redis()
    if redis is None:
        return 0
    tried, failed, out_of_time = 0, [], False
    with periodic_run_lock("djstripe-mirror", ttl_seconds=int(budget_seconds) + 60) as held:
        if not held:
            # Another batch runs. This task stands for the changes that queued it
            # (the mark): it comes back after the batch window rather than leave
            # a change that came as the other batch was ending with no batch at all.
            cache.set(_QUEUED_KEY, 1, timeout=settings.DJSTRIPE_MIRROR_BATCH_SECONDS + 60)
            djstripe_sync_pending_task.apply_async(countdown=settings.DJSTRIPE_MIRROR_BATCH_SECONDS)
            return None
        cache.delete(_QUEUED_KEY)  # changes from now on queue a new batch
        deadline = time.monotonic() + budget_seconds
        while True:
            if time.monotonic() >= deadline:
                out_of_time = True
                break
            member = redis.spop(PENDING_KEY)
            if member is None:
                break
            tried += 1
            try:
                sync(int(member))
                redis.hdel(ATTEMPTS_KEY, member)
            except Exception:
                attempts = redis.hincrby(ATTEMPTS_KEY, member, 1)
                if attempts < MAX_ATTEMPTS:
                    failed.append(member)
                    logger.warning(
                        "dj-stripe sync of payment %s failed (try %s)", int(member), attempts, exc_info=True
                    )
                else:
                    redis.hdel(ATTEMPTS_KEY, member)
                    logger.error(
                        "dj-stripe sync of payment %s failed %s times; left out", int(member), attempts
                    )
        if failed:
            redis.sadd(PENDING_KEY, *failed)  # for the next batch, not this one: no tight loop
    if out_of_time and cache.add(_QUEUED_KEY, 1, timeout=60):
        djstripe_sync_pending_task.apply_async()
    return tried
