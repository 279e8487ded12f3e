"""The relay's loop: a long-running process per shard (`manage.py outbox_relay
--shard K`) that waits for work instead of a Celery task per request.

It waits for a wake-up of its shards (gateway.events.wake: a Redis BLPOP,
OUTBOX_RELAY_POLL_SECONDS at most), waits OUTBOX_RELAY_GATHER_MS for the
commits of that window to ride on the same pass, then relays each shard woken (each of its
shards when the wait timed out: it polls anyway) until the shard is empty.
After a failed publish it waits OUTBOX_BACKOFF_SECONDS. A stop (SIGTERM) is
seen between batches: the batch in flight is published and committed first.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection

from gateway.events.kafka import kafka_enabled
from gateway.events.outbox import outbox_relay
from gateway.events.producer import kafka_producer
from gateway.events.wake import outbox_wait

logger = logging.getLogger("gateway.events")


@dataclass(frozen=True)
class RelayStep:
    woken: tuple[int, ...]  # the shards whose wake-up it took; () when it polled
    published: int
    error: str = ""


class OutboxRelayLoop:
    """One relay process: its shards (all of them when it is the only one),
    a stop event, and the waits of its settings."""

    def __init__(
        self,
        *,
        shards: list[int] | None = None,
        stop: threading.Event | None = None,
        heartbeat: Path | None = None,
    ):
        self.shards = list(shards) if shards is not None else list(range(settings.OUTBOX_SHARDS))
        self.stop = stop or threading.Event()
        self.batch = settings.OUTBOX_RELAY_BATCH
        self.gather = settings.OUTBOX_RELAY_GATHER_MS / 1000
        self.heartbeat = heartbeat  # touched after each step: a liveness probe reads its age

    def run(self) -> None:
        logger.info("Outbox relay for shard(s) %s of %s", self.shards, settings.OUTBOX_SHARDS)
        self._connect()
        while not self.stop.is_set():
            # A long-lived process: CONN_MAX_AGE and the health checks, as around a
            # request (not inside a transaction: a test's, which closing would break).
            if not connection.in_atomic_block:
                close_old_connections()
            self.step(wait=settings.OUTBOX_RELAY_POLL_SECONDS)
            if self.heartbeat is not None:
                self.heartbeat.touch()
        logger.info("Outbox relay for shard(s) %s stopped", self.shards)

    def _connect(self) -> None:
        """The Kafka producer before the first wake-up, not on the first event
        (importing kafka-python and connecting took over a second)."""
        if not kafka_enabled():
            return
        try:
            kafka_producer()
        except Exception:  # Kafka down: the first relay pass reports it, and backs off
            logger.warning("Outbox relay: Kafka not reachable at start", exc_info=True)

    def step(self, *, wait: float) -> RelayStep:
        """One wait, then one drain of the shards it calls for."""
        try:
            woken = outbox_wait(self.shards, timeout=wait)
        except Exception:  # Redis unreachable: poll, at the pace of the waits
            logger.warning("Outbox relay: no wake-ups from Redis; polling", exc_info=True)
            self.stop.wait(wait)
            woken = []
        if woken and self.gather > 0:
            # The window's other commits ride on this pass (OUTBOX_RELAY_GATHER_MS).
            self.stop.wait(self.gather)
        published, error = 0, ""
        for shard in woken or self.shards:
            count, error = self._drain(shard)
            published += count
            if error or self.stop.is_set():
                break
        if error:
            self.stop.wait(settings.OUTBOX_BACKOFF_SECONDS)
        return RelayStep(tuple(woken), published, error)

    def _drain(self, shard: int) -> tuple[int, str]:
        """Relays one shard until it is empty (a batch that was not full), a
        publish fails, or the loop is stopped."""
        published = 0
        while True:
            try:
                result = outbox_relay(shard=shard, limit=self.batch, count_pending=False)
            except Exception as exc:  # the database: the next step tries again, after the backoff
                logger.warning("Outbox relay of shard %s failed", shard, exc_info=True)
                return published, f"{type(exc).__name__}: {exc}"[:500]
            published += result.published
            if result.error or not (result.more and result.published) or self.stop.is_set():
                return published, result.error
