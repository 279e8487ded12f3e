"""Liveness and readiness checks of the gateway and its dependencies.

The ground checks what it owns (the database, Redis); an app adds the checks
of its own dependencies with readiness_check_register() from its
AppConfig.ready (gateway.events registers Kafka's and the outbox's,
stripe_integration the PSP's)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection


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


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def check_database() -> CheckResult:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return CheckResult("down", True, elapsed_ms(started), type(exc).__name__)
    return CheckResult("ok", True, elapsed_ms(started), connection.vendor)


def check_redis() -> CheckResult:
    if not settings.REDIS_URL:
        return CheckResult("disabled", False, detail="REDIS_URL is not set: local-memory cache")
    started = time.perf_counter()
    try:
        from django_redis import get_redis_connection

        get_redis_connection("default").ping()
    except Exception as exc:
        return CheckResult("down", True, elapsed_ms(started), type(exc).__name__)
    return CheckResult("ok", True, elapsed_ms(started), "redis")


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


CHECKS = {
    "database": check_database,
    "redis": check_redis,
}


def readiness_check_register(name: str, check) -> None:
    """Adds an app's check (a callable returning a CheckResult) to /health/ready."""
    CHECKS[name] = check


def readiness() -> tuple[bool, dict[str, dict]]:
    results = {name: check() for name, check in CHECKS.items()}
    ready = all(r.status != "down" for r in results.values() if r.required)
    return ready, {name: r.as_dict() for name, r in results.items()}
