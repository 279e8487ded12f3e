"""Payments selectors: reads."""

from __future__ import annotations

import hmac

from payments.api_keys import api_key_hash, api_key_prefix
from payments.models import ApiClient


def api_client_get_by_key(*, raw_key: str) -> ApiClient | None:
    prefix = api_key_prefix(raw_key)
    if prefix is None:
        return None
    client = ApiClient.objects.filter(key_prefix=prefix, is_active=True).first()
    if client is None or not hmac.compare_digest(client.key_hash, api_key_hash(raw_key)):
        return None
    return client
