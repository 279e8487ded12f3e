"""API clients and their keys."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from payments.api_keys import api_key_generate, api_key_hash
from payments.models import ApiClient


def api_client_issue_key(*, client: ApiClient) -> str:
    """Gives a (new or unsaved) client a fresh key, saves it, and returns the raw key,
    which is not stored: only its prefix and hash are."""
    prefix, raw_key = api_key_generate()
    client.key_prefix, client.key_hash = prefix, api_key_hash(raw_key)
    client.save()
    return raw_key


def api_client_create(*, name: str) -> tuple[ApiClient, str]:
    """Creates a client and returns it with its raw key."""
    client = ApiClient(name=name)
    return client, api_client_issue_key(client=client)


def api_client_revoke(*, client: ApiClient) -> ApiClient:
    client.is_active = False
    client.revoked_at = timezone.now()
    client.save(update_fields=["is_active", "revoked_at"])
    return client


@transaction.atomic
def api_client_rotate(*, name: str) -> tuple[ApiClient, str]:
    """Revokes every active client of this name and creates a new one."""
    for client in ApiClient.objects.select_for_update().filter(name=name, is_active=True):
        api_client_revoke(client=client)
    return api_client_create(name=name)
