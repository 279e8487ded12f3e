"""API clients and their keys."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from payments.api_keys import api_key_generate, api_key_hash
from payments.models import ApiClient
from payments.selectors import api_client_cache_forget


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
    """Gives the active client of this name a new key; the old key stops working
    at once. The client stays the same row, so its payments, refunds and
    Idempotency-Keys stay its own: a retry sent with the new key after a
    rotation replays or resumes the first attempt, never starts a second
    payment. With no active client of that name, one is created."""
    clients = list(ApiClient.objects.select_for_update().filter(name=name, is_active=True).order_by("id"))
    if not clients:
        return api_client_create(name=name)
    client, *others = clients
    for other in others:  # more than one of a name: the oldest keeps it
        api_client_revoke(client=other)
    old_prefix = client.key_prefix
    raw_key = api_client_issue_key(client=client)
    # The old key's cached entry goes now and again after commit (a request
    # could cache it in between), as for a revoked client (payments.apps).
    api_client_cache_forget(key_prefix=old_prefix)
    transaction.on_commit(lambda: api_client_cache_forget(key_prefix=old_prefix), robust=True)
    return client, raw_key
