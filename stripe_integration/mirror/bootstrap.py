"""The rows dj-stripe needs and localstripe cannot provide: localstripe has no
/v1/account and no /v1/webhook_endpoints, so dj-stripe's sync fails until an
Account, an APIKey and a WebhookEndpoint exist locally (stripe_local_bootstrap)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from djstripe.models import Account, APIKey, WebhookEndpoint

from stripe_integration.mirror.sync import djstripe_sync_api_key


def djstripe_local_rows(*, account_id: str, webhook_id: str, webhook_url: str) -> tuple[bool, bool, bool]:
    """(account created, API key created, webhook endpoint created)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    with transaction.atomic():
        account, account_created = Account.objects.get_or_create(
            id=account_id,
            defaults={"livemode": False, "stripe_data": {"id": account_id, "object": "account"}},
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
            id=webhook_id,
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
    return account_created, key_created, endpoint_created
