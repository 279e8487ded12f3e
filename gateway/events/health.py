"""The outbox's readiness checks, registered with the ground's
gateway.core.health from EventsConfig.ready."""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from gateway.core.health import CheckResult, cached_check, elapsed_ms
from gateway.events.kafka import kafka_enabled, kafka_ping
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_pending_by_shard


def check_kafka() -> CheckResult:
    if not kafka_enabled():
        return CheckResult("disabled", False, detail="KAFKA_BROKERS is not set: events wait in the outbox")

    # Reported, not required: with Kafka down, payments still commit and their
    # events wait in the outbox. Requiring it would take every process out of
    # the load balancer in a Kafka outage, the one the outbox exists to ride out.
    def ping() -> CheckResult:
        result = kafka_ping()
        return CheckResult("ok" if result.ok else "down", False, result.latency_ms, result.detail)

    return cached_check(("kafka", tuple(settings.KAFKA_BROKERS)), ping)


def check_outbox() -> CheckResult:
    """Events waiting to be published. Informational: a backlog is not a reason
    to take the gateway out of rotation, since nothing is lost."""
    started = time.perf_counter()
    try:
        pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
            count=Count("id"), oldest=Min("created_at")
        )
    except Exception as exc:
        return CheckResult("down", False, elapsed_ms(started), type(exc).__name__)
    age = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0
    detail = f"{pending['count']} event(s) pending, oldest {age:.0f} s"
    if pending["count"] and settings.OUTBOX_SHARDS > 1:  # which relay is behind
        by_shard = outbox_pending_by_shard()
        detail += "; by shard " + ", ".join(f"{shard}: {count}" for shard, count in by_shard.items() if count)
    return CheckResult("ok", False, elapsed_ms(started), detail)
