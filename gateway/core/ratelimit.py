"""Per-client rate limits (django-ratelimit counters in the shared cache, Redis
in production, so every gateway process counts against the same limits).

The key is the authenticated principal (request.auth): whatever an app's
authentication puts there gives its `rate_limit_identity` (payments' ApiClient:
its key prefix). Requests without one are keyed by client IP, and
X-Forwarded-For is believed only from RATELIMIT_TRUSTED_PROXIES.
A limited request gets the standard 429 error body with Retry-After; every
limited endpoint's response carries RateLimit-Limit, -Remaining and -Reset.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import zlib

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from gateway.core.errors import RateLimited, ServiceUnavailable
from gateway.core.metrics import RATE_LIMITED

logger = logging.getLogger("gateway.core.ratelimit")


# One round trip per counted request: INCRBY and, on a new window's key, its
# expiry, in one script. (django-ratelimit's get_usage takes two, an ADD and an
# INCR; it still counts where the cache is not Redis, as in the embedded default.)
# (TTL, not EXPIRE NX: that option needs Redis 7.)
_COUNT_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return count
"""
_RATE = re.compile(r"^(\d+)/(\d*)([smhd]?)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_scripts: dict[int, object] = {}
# In a request's WSGI environ: (scope, usage) of a limit already counted for it
# before Django. A client cannot set it: the headers it sends are all HTTP_*.
SPENT_ENVIRON_KEY = "gateway.ratelimit.spent"


def rate_parse(rate: str) -> tuple[int, int]:
    """ "100/s", "20/m", "5/10m", "100/10" (seconds) -> (limit, period in seconds)."""
    match = _RATE.match(rate.strip())
    if match is None or match.group(2) == "0" or not (match.group(2) or match.group(3)):
        raise ValueError(f"Not a rate: {rate!r} (use N/s, N/m, N/h, N/d, or N/<k>s, N/<k>m, …)")
    limit, multiple, unit = match.groups()
    return int(limit), int(multiple or 1) * _UNIT_SECONDS[(unit or "s").lower()]


def rate_limits_validate() -> None:
    """Every configured rate can be read (at start-up: gateway.apps)."""
    for scope, rate in settings.RATE_LIMITS.items():
        if rate:
            try:
                rate_parse(rate)
            except ValueError as exc:
                raise ImproperlyConfigured(f"RATE_LIMITS[{scope!r}]: {exc}") from None


def _redis_count(redis, *, group: str, identity: str, rate: str, increment: bool) -> dict:
    """A fixed window per identity, offset by a hash of it (so that windows do
    not all end together), counted in Redis in one round trip."""
    limit, period = rate_parse(rate)
    now = int(time.time())
    since = now - zlib.crc32(identity.encode()) % period
    window, elapsed = divmod(since, period)
    script = _scripts.get(id(redis))
    if script is None:
        script = _scripts[id(redis)] = redis.register_script(_COUNT_SCRIPT)
    key = f"gw:rl:{group}:{limit}/{period}s:{identity}:{window}"
    count = int(script(keys=[key], args=[1 if increment else 0, period + 1]))
    return {"count": count, "limit": limit, "should_limit": count > limit, "time_left": period - elapsed}


def usage_count(request, *, group: str, identity: str, rate: str, increment: bool) -> dict | None:
    """This identity's use of a rate: {count, limit, should_limit, time_left}.
    Raises when the cache cannot be reached."""
    if "django_redis" in settings.CACHES["default"]["BACKEND"]:
        from django_redis import get_redis_connection

        return _redis_count(
            get_redis_connection("default"), group=group, identity=identity, rate=rate, increment=increment
        )
    return get_usage(request, group=group, key=lambda group, req: identity, rate=rate, increment=increment)


def client_ip(request) -> str:
    """REMOTE_ADDR, or, behind a trusted proxy, the nearest address it did not add itself."""
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.RATELIMIT_TRUSTED_PROXIES
    if not trusted or not _in(remote, trusted):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return remote


def _in(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def rate_limit_identity(request) -> str:
    """Whom a request counts against: the principal's rate_limit_identity, else its address."""
    identity = getattr(getattr(request, "auth", None), "rate_limit_identity", None)
    return identity or f"ip:{client_ip(request)}"


def rate_limit_spend(request, scope: str) -> dict | None:
    """Counts one use of RATE_LIMITS[scope] by the caller: its usage, or None
    when the scope is off (or the cache is down and RATELIMIT_FAIL_OPEN lets
    the request through). The one place a limited request is counted."""
    if scope not in settings.RATE_LIMITS:  # a misspelt scope must not mean "unlimited"
        raise ImproperlyConfigured(f"No rate limit scope {scope!r} in RATE_LIMITS.")
    rate = settings.RATE_LIMITS[scope]
    if not rate:
        return None
    try:
        usage = usage_count(
            request, group=scope, identity=rate_limit_identity(request), rate=rate, increment=True
        )
    except Exception as exc:  # the cache (Redis) is down: decided by RATELIMIT_FAIL_OPEN
        if settings.RATELIMIT_FAIL_OPEN:
            logger.warning("Rate limiting is off: its cache is unavailable (%s)", type(exc).__name__)
            return None
        raise ServiceUnavailable(
            "Rate limiting is unavailable; retry shortly.",
            code="rate_limit_unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    if usage is not None and usage["should_limit"]:
        RATE_LIMITED.labels(scope=scope).inc()
    return usage


class ClientRateThrottle(BaseThrottle):
    """Every API view's limit (DRF's throttle hook). A view picks its scope
    with `rate_limit_scope` (settings.RATE_LIMITS); no scope means "default"."""

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "rate_limit_scope", "default")
        # A route in front of Django that already counted this request and then
        # handed it over (payments.read_route): counted once, not twice.
        spent = request._request.META.pop(SPENT_ENVIRON_KEY, None)
        usage = spent[1] if spent is not None and spent[0] == scope else rate_limit_spend(request, scope)
        if usage is None:
            return True
        # For RateLimitHeadersMiddleware, on the underlying Django request.
        request._request.ratelimit_usage = usage
        self._wait = max(usage["time_left"], 1)
        return not usage["should_limit"]

    def wait(self) -> int:
        return getattr(self, "_wait", 1)


def _unauthenticated_usages(request, *, key_prefix: str | None, increment: bool) -> list[dict]:
    """The budget of missing or wrong API keys, per address and, for a key
    that names a prefix, per prefix (one key guessed from many addresses)."""
    rate = settings.RATE_LIMITS.get("unauthenticated")
    if not rate:
        return []
    identities = [f"ip:{client_ip(request)}"] + ([f"prefix:{key_prefix}"] if key_prefix else [])
    usages = []
    for identity in identities:
        try:
            usage = usage_count(
                request, group="unauthenticated", identity=identity, rate=rate, increment=increment
            )
        except Exception:  # the cache is down: counting failures is not worth refusing anyone
            logger.debug("Rate limiting of wrong keys skipped: its cache is unavailable")
            usage = None
        if usage is not None:
            usages.append(usage)
    return usages


def unauthenticated_check(request, *, key_prefix: str | None = None) -> None:
    """After a lookup found no client for the key (or no key was sent): an
    address, or a key prefix, that has sent too many wrong keys gets 429. A
    valid key never comes here, so no caller can use up a merchant's budget."""
    for usage in _unauthenticated_usages(request, key_prefix=key_prefix, increment=False):
        if usage["count"] >= usage["limit"]:
            RATE_LIMITED.labels(scope="unauthenticated").inc()
            raise RateLimited(headers={"Retry-After": str(max(usage["time_left"], 1))})


def unauthenticated_count(request, *, key_prefix: str | None = None) -> None:
    """Counts one request with a missing or wrong API key against its address (and prefix)."""
    _unauthenticated_usages(request, key_prefix=key_prefix, increment=True)


def scope_consume(request, *, scope: str) -> None:
    """Counts one use of RATE_LIMITS[scope] by the caller (its API client, else
    its address), at the moment the view knows it is spent: 429 past the limit.
    For what only some requests cost: an invalid webhook signature (so a flood
    of them never refuses Stripe's valid deliveries), a read that goes on to
    the PSP (so one merchant cannot spend the platform's Stripe read limit)."""
    usage = rate_limit_spend(request, scope)
    if usage is not None and usage["should_limit"]:
        raise RateLimited(headers={"Retry-After": str(max(usage["time_left"], 1))})


def ratelimit_headers_set(response, usage: dict | None) -> None:
    if usage:
        response["RateLimit-Limit"] = str(usage["limit"])
        response["RateLimit-Remaining"] = str(max(usage["limit"] - usage["count"], 0))
        # Whole seconds, at least 1, as Retry-After says: a window never resets in 0 s.
        response["RateLimit-Reset"] = str(max(usage["time_left"], 1))


class RateLimitHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        ratelimit_headers_set(response, getattr(request, "ratelimit_usage", None))
        return response
