"""Liveness and readiness checks of the gateway and its dependencies.

The ground checks what it owns (the database, Redis, Kafka, the outbox); an app
adds the checks of its own integrations with readiness_check_register() from
its AppConfig.ready (stripe_integration registers the PSP's)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from gateway.kafka import kafka_enabled, kafka_ping


@dataclass(frozen=True)
class CheckResult:
    status: str  # "ok", "down" or "disabled"
    required: bool
    latency_ms: float | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "required": self.required,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
        }


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def check_database() -> CheckResult:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return CheckResult("down", True, _ms(started), type(exc).__name__)
    return CheckResult("ok", True, _ms(started), connection.vendor)


def check_redis() -> CheckResult:
    if not settings.REDIS_URL:
        return CheckResult("disabled", False, detail="REDIS_URL is not set: local-memory cache")
    started = time.perf_counter()
    try:
        from django_redis import get_redis_connection

        get_redis_connection("default").ping()
    except Exception as exc:
        return CheckResult("down", True, _ms(started), type(exc).__name__)
    return CheckResult("ok", True, _ms(started), "redis")


# The checks that call another system (Kafka builds an admin client, the PSP
# check is an authenticated Stripe call that counts against the account's rate
# limit) are cached per process for HEALTH_CHECK_CACHE_SECONDS, keyed by the
# settings they depend on: a flood of /health/ready costs them one call each
# per interval, not one per request.
_REMOTE_RESULTS: dict[tuple, tuple[float, CheckResult]] = {}


def cached_check(key: tuple, check) -> CheckResult:
    now = time.monotonic()
    hit = _REMOTE_RESULTS.get(key)
    if hit is not None and now - hit[0] < settings.HEALTH_CHECK_CACHE_SECONDS:
        return hit[1]
    result = check()
    _REMOTE_RESULTS[key] = (now, result)
    return result


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
    from django.db.models import Count, Min
    from django.utils import timezone

    from gateway.events.models import OutboxEvent

    started = time.perf_counter()
    try:
        pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
            count=Count("id"), oldest=Min("created_at")
        )
    except Exception as exc:
        return CheckResult("down", False, _ms(started), type(exc).__name__)
    age = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0
    return CheckResult("ok", False, _ms(started), f"{pending['count']} event(s) pending, oldest {age:.0f} s")


CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "kafka": check_kafka,
    "outbox": check_outbox,
}


def readiness_check_register(name: str, check) -> None:
    """Adds an app's check (a callable returning a CheckResult) to /health/ready."""
    CHECKS[name] = check


def readiness() -> tuple[bool, dict[str, dict]]:
    results = {name: check() for name, check in CHECKS.items()}
    ready = all(r.status != "down" for r in results.values() if r.required)
    return ready, {name: r.as_dict() for name, r in results.items()}


def cache_roundtrip() -> bool:
    """Used by tests and operators: writes and reads one key through the cache."""
    cache.set("health:probe", "1", 5)
    return cache.get("health:probe") == "1"
