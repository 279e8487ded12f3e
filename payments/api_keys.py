"""API key format and hashing: `gw_<8-char prefix>_<43-char secret>`."""

from __future__ import annotations

import hashlib
import secrets
import string

PREFIX_LENGTH = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits


def api_key_generate() -> tuple[str, str]:
    """Returns (prefix, raw_key)."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"gw_{prefix}_{secrets.token_urlsafe(32)}"


def api_key_hash(raw_key: str) -> str:
    # The key carries 256 bits of randomness, so a plain SHA-256 is enough;
    # a slow password hash would only slow down every request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a raw key, or None when the key has the wrong shape."""
    if not raw_key.startswith("gw_") or len(raw_key) < 3 + PREFIX_LENGTH + 2:
        return None
    if raw_key[3 + PREFIX_LENGTH] != "_":
        return None
    return raw_key[3 : 3 + PREFIX_LENGTH]
