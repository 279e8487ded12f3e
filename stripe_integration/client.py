"""The one module that talks to Stripe (or localstripe, its stand-in).

Nothing else in the project imports `stripe`. The key and the API base are
read from settings at call time, never at import, so tests and operators can
change them without restarting. Stripe objects never leave this module: callers
get dataclasses, and Stripe errors become errors of the gateway's one family.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
import stripe
from django.conf import settings

from gateway.errors import PspError, ServiceUnavailable


def stripe_client(*, timeout: float | None = None, retries: int | None = None) -> stripe.StripeClient:
    """A client built from the current settings, with timeouts and retries."""
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else None,
        http_client=stripe.RequestsClient(timeout=timeout or settings.STRIPE_TIMEOUT_SECONDS),
        # stripe-python retries only on network errors and 409/429/5xx with
        # Stripe-Should-Retry, and sends an idempotency key with every retried
        # POST; see the payments core for our own keys.
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES if retries is None else retries,
    )


def using_localstripe() -> bool:
    return bool(settings.STRIPE_API_BASE)


@dataclass(frozen=True)
class PspHealth:
    ok: bool
    latency_ms: float
    detail: str


def psp_ping(*, timeout: float = 3.0) -> PspHealth:
    """A cheap authenticated read (the balance), to tell whether the PSP answers."""
    client = stripe_client(timeout=timeout, retries=0)
    started = time.perf_counter()
    try:
        client.v1.balance.retrieve()
    except stripe.AuthenticationError:
        return PspHealth(False, _ms(started), "authentication failed: check STRIPE_SECRET_KEY")
    except stripe.StripeError as exc:
        return PspHealth(False, _ms(started), type(exc).__name__)
    return PspHealth(True, _ms(started), "localstripe" if using_localstripe() else "stripe")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# --- localstripe only -------------------------------------------------------------
# localstripe has no /v1/webhook_endpoints; webhooks are registered through its
# own /_config/webhooks/<id> route instead (form fields url, secret).


def localstripe_register_webhook(*, webhook_id: str, url: str, secret: str) -> None:
    if not using_localstripe():
        raise PspError(
            "Webhook registration through /_config is for localstripe only.", code="not_localstripe"
        )
    try:
        response = requests.post(
            f"{settings.STRIPE_API_BASE.rstrip('/')}/_config/webhooks/{webhook_id}",
            data={"url": url, "secret": secret},
            timeout=5,
        )
    except requests.RequestException as exc:
        raise ServiceUnavailable(
            f"localstripe is not reachable at {settings.STRIPE_API_BASE}.", code="psp_unavailable"
        ) from exc
    if response.status_code >= 400:
        raise PspError(f"localstripe refused the webhook registration ({response.status_code}).")
