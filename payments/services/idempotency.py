"""Idempotency-Key records: a replay returns the first answer, never a second charge.

A claim is an INSERT under a unique constraint, committed before the request
does anything, with a lease (`locked_until`). The request then works on the
record's `operation_uuid`: the payment it creates has that uuid, and so the
same PSP idempotency key on every attempt.

- A definite answer (2xx, or a 4xx such as a decline) completes the record and
  is replayed to every retry.
- A 5xx releases the claim (its lease ends at once) but keeps the record: the
  retry takes it over and resumes the same operation, so a charge that reached
  the PSP before the failure is found again, not made twice.
- A claim whose process died (SIGKILL, or a database still down when the
  release ran) is taken over once its lease has run out.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.core.errors import Conflict, IdempotencyMismatch, InvalidRequest
from payments.models import ApiClient, IdempotencyKey

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


@dataclass(frozen=True)
class Claim:
    """The right to run one request of a key. `resumed`: an earlier attempt
    with this key may have done part of the work (it ended in a 5xx, or died)."""

    record: IdempotencyKey
    resumed: bool
    token: uuid.UUID | None = None

    @property
    def operation_uuid(self):
        return self.record.operation_uuid


def idempotency_key_validate(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            code="invalid_idempotency_key",
            param="Idempotency-Key",
        )
    return key


def _lease_end(now):
    return now + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def _one_statement():
    """Around a single INSERT: nothing when the connection autocommits (the
    statement is its own transaction, and a transaction block around it would
    cost two more round trips to set autocommit off and on), a savepoint inside
    a caller's transaction, so that an IntegrityError leaves that one usable."""
    return transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()


def idempotency_begin(
    *,
    client: ApiClient,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    earlier_fingerprints: tuple[str, ...] = (),
) -> Claim | Replay:
    """Claims the key for this request, or answers what the first request got.

    `earlier_fingerprints`: the same request's fingerprint under secrets being
    rotated out (SECRET_KEY_FALLBACKS), so that a retry during a rotation is
    recognised as the same request, not refused as another one."""
    key = idempotency_key_validate(key)
    token = uuid.uuid4()
    now = timezone.now()
    for _ in range(2):
        try:
            with _one_statement():
                record = IdempotencyKey.objects.create(
                    client=client,
                    key=key,
                    method=method,
                    path=path[:255],
                    fingerprint=fingerprint,
                    locked_until=_lease_end(now),
                    claim_token=token,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
                return Claim(record=record, resumed=False, token=token)
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(client=client, key=key).first()
            if existing is None:
                continue  # purged between the two statements
            if existing.expires_at <= now:
                existing.delete()
                continue
            if (
                existing.fingerprint not in (fingerprint, *earlier_fingerprints)
                or existing.method != method
                or existing.path != path[:255]
            ):
                raise IdempotencyMismatch() from None
            if existing.state == IdempotencyKey.State.COMPLETED:
                return Replay(status=existing.response_status, body=existing.response_body)
            return _take_over(existing, now, token)
    raise Conflict("The Idempotency-Key could not be claimed; retry.", code="idempotency_key_in_use")


def _take_over(record: IdempotencyKey, now, token: uuid.UUID) -> Claim:
    """An in-flight record whose lease ran out (released after a 5xx, or left by
    a dead process) goes to this request; compare-and-set on the lease, so two
    retries cannot both take it. A record with no lease was claimed by a
    release from before leases: it is held for one lease from its creation."""
    lease_end = record.locked_until or (
        record.created_at + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
    )
    if lease_end > now:
        wait = max(1, int((lease_end - now).total_seconds()))
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="idempotency_key_in_use",
            headers={"Retry-After": str(min(wait, 5))},
        )
    taken = IdempotencyKey.objects.filter(
        pk=record.pk, state=IdempotencyKey.State.IN_FLIGHT, locked_until=record.locked_until
    ).update(locked_until=_lease_end(now), claim_token=token)
    if not taken:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="idempotency_key_in_use",
            headers={"Retry-After": "1"},
        )
    return Claim(record=record, resumed=True, token=token)


def _held(claim: Claim):
    """The claim's record, only while this claim still holds it (the fence)."""
    return IdempotencyKey.objects.filter(
        pk=claim.record.pk, state=IdempotencyKey.State.IN_FLIGHT, claim_token=claim.token
    )


def idempotency_complete(*, claim: Claim, status: int, body: dict) -> bool:
    """Stores the definite answer, if this claim still holds the key, or if the
    attempt that took it over has let it go without an answer (it ended in a
    5xx): nobody else is working on the operation, and this answer is its
    outcome. False while another attempt holds it: that one stores the answer."""
    answer = {
        "state": IdempotencyKey.State.COMPLETED,
        "response_status": status,
        "response_body": body,
        "locked_until": None,
    }
    if _held(claim).update(**answer):
        return True
    let_go = IdempotencyKey.objects.filter(
        pk=claim.record.pk, state=IdempotencyKey.State.IN_FLIGHT, locked_until__lte=timezone.now()
    )
    return bool(let_go.update(**answer))


def idempotency_stored_answer(*, claim: Claim) -> Replay | None:
    """The answer stored for the claim's key by whichever attempt holds it now,
    if it has completed: what a request whose claim was taken over answers, so
    that every answer to one key is the same."""
    record = IdempotencyKey.objects.filter(pk=claim.record.pk, state=IdempotencyKey.State.COMPLETED).first()
    return None if record is None else Replay(status=record.response_status, body=record.response_body)


def idempotency_release(*, claim: Claim) -> bool:
    """Ends the claim's lease after a server-side failure, so that a retry takes
    the record over at once and resumes the same operation. Only while this
    claim still holds it: a stale request never ends its successor's lease."""
    return bool(_held(claim).update(locked_until=timezone.now()))


def idempotency_purge_expired(*, now=None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
