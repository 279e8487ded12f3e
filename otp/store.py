"""Where codes and counters live: the cache (Redis in production, local memory
in development). Only an HMAC of a code is ever stored; counters use the
cache's atomic operations, so they hold across several gateway processes."""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache

from gateway.core.errors import ServiceUnavailable


def _guard(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise ServiceUnavailable(
                "One-time codes are unavailable right now; retry shortly.",
                code="otp_unavailable",
                headers={"Retry-After": "5"},
            ) from exc
        except Exception as exc:  # redis-py's own error classes, without importing redis here
            if type(exc).__module__.startswith("redis"):
                raise ServiceUnavailable(
                    "One-time codes are unavailable right now; retry shortly.",
                    code="otp_unavailable",
                    headers={"Retry-After": "5"},
                ) from exc
            raise

    return wrapper


def code_digest(code: str) -> str:
    secret = (settings.OTP_SECRET or settings.SECRET_KEY).encode()
    return hmac.new(secret, code.encode(), hashlib.sha256).hexdigest()


def _key(payment_uuid, name: str) -> str:
    return f"otp:{payment_uuid}:{name}"


@_guard
def code_store(*, payment_uuid, code: str) -> None:
    """A new code replaces the previous one, with a fresh attempt count."""
    cache.set(_key(payment_uuid, "code"), code_digest(code), settings.OTP_TTL_SECONDS)
    cache.delete(_key(payment_uuid, "attempts"))


@_guard
def code_digest_get(*, payment_uuid) -> str | None:
    return cache.get(_key(payment_uuid, "code"))


@_guard
def code_consume(*, payment_uuid) -> bool:
    """Deletes the code; True only for the one caller that deleted it (single use)."""
    return bool(cache.delete(_key(payment_uuid, "code")))


@_guard
def attempt_count_increment(*, payment_uuid) -> int:
    key = _key(payment_uuid, "attempts")
    cache.add(key, 0, settings.OTP_TTL_SECONDS)
    return cache.incr(key)


@_guard
def send_allowed(*, payment_uuid) -> tuple[bool, int]:
    """The resend cooldown and the hourly cap. Returns (allowed, retry_after_seconds)."""
    now = time.time()
    cooldown_key = _key(payment_uuid, "cooldown")
    if not cache.add(cooldown_key, now, settings.OTP_RESEND_COOLDOWN_SECONDS):
        started = cache.get(cooldown_key) or now
        return False, max(1, int(settings.OTP_RESEND_COOLDOWN_SECONDS - (now - started)))
    hour_key = _key(payment_uuid, f"sends:{int(now // 3600)}")
    cache.add(hour_key, 0, 3600)
    if cache.incr(hour_key) > settings.OTP_MAX_SENDS_PER_HOUR:
        return False, int(3600 - now % 3600)
    return True, 0
