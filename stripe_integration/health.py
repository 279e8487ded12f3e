"""The PSP's readiness check, registered with the ground's /health/ready."""

from __future__ import annotations

from django.conf import settings

from gateway.core.health import CheckResult, cached_check
from stripe_integration.client import psp_ping


def check_psp() -> CheckResult:
    """An authenticated Stripe call (the balance): cached for a few seconds, so a
    flood of readiness probes cannot spend the account's Stripe rate limit."""

    def ping() -> CheckResult:
        result = psp_ping()
        # Reported, not required: a Stripe incident must not take reads, refund
        # status, the admin and webhooks down with it (new payments fail on their own).
        return CheckResult("ok" if result.ok else "down", False, result.latency_ms, result.detail)

    return cached_check(("psp", settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY), ping)
