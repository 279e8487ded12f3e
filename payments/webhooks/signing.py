"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes.
Each delivery carries webhook-id (the event id), webhook-timestamp (unix
seconds) and webhook-signature: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
one per secret in force, separated by spaces (two while a rotated-out secret
still signs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105 (a prefix, not a secret)


def webhook_secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    *, secrets_in_force: list[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in force."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            webhook_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
            for secret in secrets_in_force
        ),
    }
