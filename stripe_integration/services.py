"""Stripe-side services of the gateway."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings

from gateway.core.errors import InvalidRequest
from stripe_integration.client import localstripe_register_webhook, using_localstripe

LOCALSTRIPE_ACCOUNT_ID = "acct_localstripe"
LOCALSTRIPE_WEBHOOK_ID = "we_localgateway"


def localstripe_webhook_id(webhook_url: str) -> str:
    """The registration's id at localstripe, one per gateway port: two gateways
    sharing one localstripe (make services and make run) each get their
    deliveries, and one that stops removes only its own (scripts/run.sh)."""
    port = urllib.parse.urlsplit(webhook_url).port or 80
    return f"{LOCALSTRIPE_WEBHOOK_ID}_{port}"


@dataclass(frozen=True)
class LocalBootstrapResult:
    account_created: bool
    api_key_created: bool
    webhook_endpoint_created: bool
    webhook_url: str


def stripe_local_bootstrap(*, webhook_url: str, register_at_psp: bool = True) -> LocalBootstrapResult:
    """Registers the gateway's webhook at localstripe and, with the dj-stripe
    mirror installed, makes the rows dj-stripe needs and localstripe cannot
    provide (stripe_integration.mirror.bootstrap). Idempotent: running it again
    changes nothing but the webhook URL and secret, which follow the settings.
    """
    if not using_localstripe():
        raise InvalidRequest(
            "stripe_local_bootstrap is for localstripe only (LOCALSTRIPE_QUIRKS is off).",
            code="not_localstripe",
        )
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidRequest("STRIPE_WEBHOOK_SECRET must be set.", param="STRIPE_WEBHOOK_SECRET")
    rows = (False, False, False)
    if apps.is_installed("stripe_integration.mirror"):  # dj-stripe's tables exist
        from stripe_integration.mirror.bootstrap import djstripe_local_rows

        rows = djstripe_local_rows(
            account_id=LOCALSTRIPE_ACCOUNT_ID, webhook_id=LOCALSTRIPE_WEBHOOK_ID, webhook_url=webhook_url
        )
    if register_at_psp:
        localstripe_register_webhook(
            webhook_id=localstripe_webhook_id(webhook_url), url=webhook_url, secret=secret
        )
    return LocalBootstrapResult(*rows, webhook_url)
