"""Shards of the outbox, and how a request wakes the relay of a shard.

A row's shard is a stable hash of its aggregate id (crc32, not Python's
hash(), which changes with every process): all of one payment's rows are in
one shard, and each shard has one relay (gateway.events.relay).

The wake-up is a Redis list per shard that holds at most one token. After
commit, the request pushes a token unless one is there (one script: one round
trip, whatever the number of shards it wrote); the relay waits on the list
with BLPOP, and takes the token before it reads rows, so a commit after that
pushes a new one and nothing is missed. Without Redis (make run's
local-memory cache, or Redis down) there is nothing to push: the relay polls
every OUTBOX_RELAY_POLL_SECONDS.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable

from django.conf import settings

logger = logging.getLogger("gateway.events")

_WAKE_KEY = "gw:outbox:wake:{shard}"
# Pushes a token on each list (KEYS) that holds none; the list expires if no relay takes it.
_WAKE_SCRIPT = """
local pushed = 0
for _, key in ipairs(KEYS) do
  if redis.call('LLEN', key) == 0 then
    redis.call('RPUSH', key, '1')
    pushed = pushed + 1
  end
  redis.call('EXPIRE', key, ARGV[1])
end
return pushed
"""
_WAKE_TTL_SECONDS = 300
# A wait is a few seconds at most; a socket silent this long is a dead connection.
_WAIT_SOCKET_SECONDS = 30
_scripts: dict[int, object] = {}


def outbox_shard_of(aggregate_id: str, *, shards: int | None = None) -> int:
    """The shard of an aggregate's rows: crc32 of its id modulo OUTBOX_SHARDS."""
    count = shards if shards is not None else settings.OUTBOX_SHARDS
    return zlib.crc32(aggregate_id.encode()) % count


def outbox_wake_key(shard: int) -> str:
    return _WAKE_KEY.format(shard=shard)


def outbox_redis():
    """The cache's Redis connection, or None when the cache is not Redis."""
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def outbox_wake(shards: Iterable[int]) -> int:
    """Wakes the relays of these shards, unless they are woken already.
    Returns how many tokens were pushed (0 without Redis: the relays poll)."""
    keys = [outbox_wake_key(shard) for shard in sorted(set(shards))]
    redis = outbox_redis()
    if not keys or redis is None:
        return 0
    script = _scripts.get(id(redis))
    if script is None:
        script = _scripts[id(redis)] = redis.register_script(_WAKE_SCRIPT)
    return int(script(keys=keys, args=[_WAKE_TTL_SECONDS]))


def outbox_wait(shards: list[int], *, timeout: float) -> list[int]:
    """Waits up to `timeout` seconds for a wake-up of one of these shards, and
    takes every token that is there. Returns the shards woken ([] on timeout,
    and at once with timeout 0 when none is). Without Redis, sleeps `timeout`."""
    redis = _waiting_redis()
    if redis is None:
        if timeout > 0:
            time.sleep(timeout)
        return []
    keys = [outbox_wake_key(shard) for shard in shards]
    woken = set()
    if timeout > 0:
        # BLPOP's timeout is in seconds, a float since Redis 6.
        popped = redis.blpop(keys, timeout=timeout)
        if popped is not None:
            woken.add(popped[0].decode())
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.lpop(key)
    woken.update(key for key, token in zip(keys, pipe.execute(), strict=True) if token is not None)
    return [shard for shard, key in zip(shards, keys, strict=True) if key in woken]


_waiting: dict[int, object] = {}


def _waiting_redis():
    """A client of the cache's Redis for BLPOP: the cache's own gives up on a
    socket after 1 s (SOCKET_TIMEOUT), shorter than a wait; this one waits
    up to _WAIT_SOCKET_SECONDS (the wait's own timeout is Redis's). Same address, TLS and
    credentials."""
    cache_redis = outbox_redis()
    if cache_redis is None:
        return None
    client = _waiting.get(id(cache_redis))
    if client is None:
        import redis

        pool = cache_redis.connection_pool
        kwargs = {**pool.connection_kwargs, "socket_timeout": _WAIT_SOCKET_SECONDS}
        client = redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))
        _waiting[id(cache_redis)] = client
    return client
