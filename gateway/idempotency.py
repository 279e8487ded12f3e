"""The Idempotency-Key header on POST endpoints (`@idempotent` on a view method)."""

from __future__ import annotations

import functools
import hashlib
import json

from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from gateway.errors import exception_handler, to_gateway_error
from payments.services.idempotency import (
    Replay,
    idempotency_begin,
    idempotency_complete,
    idempotency_release,
)

REPLAYED_HEADER = "Idempotent-Replayed"


def request_fingerprint(request) -> str:
    """The same parameters give the same fingerprint, whatever their order or spacing."""
    canonical = json.dumps(request.data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _as_json(data) -> dict:
    return json.loads(json.dumps(data, cls=JSONEncoder))


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
        try:
            response = handler(self, request, *args, **kwargs)
        except Exception as exc:
            error = to_gateway_error(exc)
            if error is None or error.status_code >= 500:
                # Nothing definite happened: free the key so a retry can go on.
                idempotency_release(record=claim)
                raise
            response = exception_handler(exc, {"view": self, "request": request})
        idempotency_complete(record=claim, status=response.status_code, body=_as_json(response.data))
        return response

    return wrapper
