"""Stripe-side services of the gateway."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from djstripe.models import Account, APIKey, WebhookEndpoint

from gateway.core.errors import InvalidRequest
from stripe_integration.client import localstripe_register_webhook, using_localstripe
from stripe_integration.sync import djstripe_sync_api_key

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
    """Makes the rows dj-stripe needs and localstripe cannot provide.

    localstripe has no /v1/account and no /v1/webhook_endpoints, so dj-stripe's
    sync and webhook processing fail until an Account, an APIKey and a
    WebhookEndpoint exist locally. Idempotent: running it again changes nothing
    but the webhook URL and secret, which follow the current settings.
    """
    if not using_localstripe():
        raise InvalidRequest(
            "stripe_local_bootstrap is for localstripe only (LOCALSTRIPE_QUIRKS is off).",
            code="not_localstripe",
        )
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidRequest("STRIPE_WEBHOOK_SECRET must be set.", param="STRIPE_WEBHOOK_SECRET")
    with transaction.atomic():
        account, account_created = Account.objects.get_or_create(
            id=LOCALSTRIPE_ACCOUNT_ID,
            defaults={"livemode": False, "stripe_data": {"id": LOCALSTRIPE_ACCOUNT_ID, "object": "account"}},
        )
        _, key_created = APIKey.objects.get_or_create(
            secret=djstripe_sync_api_key(),
            defaults={
                "type": "secret",
                "livemode": False,
                "name": "localstripe",
                "djstripe_owner_account": account,
            },
        )
        _, endpoint_created = WebhookEndpoint.objects.update_or_create(
            id=LOCALSTRIPE_WEBHOOK_ID,
            defaults={
                "secret": secret,
                "url": webhook_url,
                "enabled_events": ["*"],
                "status": "enabled",
                "livemode": False,
                "stripe_data": {},
                "djstripe_owner_account": account,
            },
        )
    if register_at_psp:
        localstripe_register_webhook(
            webhook_id=localstripe_webhook_id(webhook_url), url=webhook_url, secret=secret
        )
    return LocalBootstrapResult(account_created, key_created, endpoint_created, webhook_url)
