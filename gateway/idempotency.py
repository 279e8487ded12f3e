"""The Idempotency-Key header on POST endpoints (`@idempotent` on a view method)."""

from __future__ import annotations

import functools
import json

from django.db import DatabaseError
from django.utils.crypto import salted_hmac
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from gateway.errors import exception_handler, to_gateway_error
from payments.services.idempotency import (
    Claim,
    Replay,
    idempotency_begin,
    idempotency_complete,
    idempotency_release,
)

REPLAYED_HEADER = "Idempotent-Replayed"
# Only for the answer to the request that made it: never stored, so a replay
# does not carry it (the payment's next_action is on the payment itself).
_NEVER_STORED = ("client_secret",)


def request_fingerprint(request) -> str:
    """The same parameters give the same fingerprint, whatever their order or spacing.

    A keyed hash (HMAC-SHA256 under the server's secret), never a plain one: the
    body may hold a raw card, and a plain hash of a card number can be brute-forced
    from the last4 and expiry the payment row keeps."""
    canonical = json.dumps(request.data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    return salted_hmac(
        "gateway.idempotency.fingerprint", f"{request.method} {request.path}\n{canonical}", algorithm="sha256"
    ).hexdigest()


def _stored_body(data) -> dict:
    body = json.loads(json.dumps(data, cls=JSONEncoder))
    if isinstance(body, dict):
        for name in _NEVER_STORED:
            body.pop(name, None)
    return body


def idempotency_claim(request) -> Claim | None:
    """The claim of the current request's Idempotency-Key, if it sent one: its
    operation_uuid names the payment or refund the request makes."""
    return getattr(request, "idempotency_claim", None)


def _release_quietly(claim: Claim) -> None:
    try:
        idempotency_release(claim=claim)
    except DatabaseError:
        pass  # the database is down: the claim's lease runs out on its own


def idempotent(handler):
    """Stores the first answer to a key and replays it; see payments.services.idempotency."""

    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(self, request, *args, **kwargs)
        claim = idempotency_begin(
            client=request.auth,
            key=key,
            method=request.method,
            path=request.path,
            fingerprint=request_fingerprint(request),
        )
        if isinstance(claim, Replay):
            return Response(claim.body, status=claim.status, headers={REPLAYED_HEADER: "true"})
        request.idempotency_claim = claim
        try:
            response = handler(self, request, *args, **kwargs)
        except Exception as exc:
            error = to_gateway_error(exc)
            if error is None or error.status_code >= 500:
                # No definite answer: a retry with this key takes the claim over
                # and resumes the same operation.
                _release_quietly(claim)
                raise
            response = exception_handler(exc, {"view": self, "request": request})
        try:
            idempotency_complete(claim=claim, status=response.status_code, body=_stored_body(response.data))
        except Exception:
            _release_quietly(claim)
            raise
        return response

    return wrapper
