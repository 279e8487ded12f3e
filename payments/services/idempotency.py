"""Idempotency-Key records: a replay returns the first answer, never a second charge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.errors import Conflict, IdempotencyMismatch, InvalidRequest
from payments.models import ApiClient, IdempotencyKey

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


def idempotency_key_validate(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key


def idempotency_begin(
    *, client: ApiClient, key: str, method: str, path: str, fingerprint: str
) -> IdempotencyKey | Replay:
    """Claims the key for this request, or answers what the first request got.

    The claim is an INSERT under a unique constraint, committed before the
    request does anything, so two processes with the same key cannot both go on.
    """
    key = idempotency_key_validate(key)
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    client=client,
                    key=key,
                    method=method,
                    path=path[:255],
                    fingerprint=fingerprint,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(client=client, key=key).first()
            if existing is None:
                continue  # purged between the two statements
            if existing.expires_at <= now:
                existing.delete()
                continue
            if (
                existing.fingerprint != fingerprint
                or existing.method != method
                or existing.path != path[:255]
            ):
                raise IdempotencyMismatch() from None
            if existing.state == IdempotencyKey.State.IN_FLIGHT:
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.",
                    code="idempotency_key_in_use",
                    headers={"Retry-After": "1"},
                ) from None
            return Replay(status=existing.response_status, body=existing.response_body)
    raise Conflict("The Idempotency-Key could not be claimed; retry.", code="idempotency_key_in_use")


def idempotency_complete(*, record: IdempotencyKey, status: int, body: dict) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.COMPLETED, response_status=status, response_body=body
    )


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Frees the key after a server-side failure, so the client may retry with it."""
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()


def idempotency_purge_expired(*, now=None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
