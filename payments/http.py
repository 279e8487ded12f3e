"""The HTTP edge every app's views share (payments, otp, stripe_integration):
the Idempotency-Key decorator, the actor of a request, and the shapes of a
payment's answer. Views import it from here; nothing here holds a rule."""

from __future__ import annotations

import functools
import json
from dataclasses import replace

from django.conf import settings
from django.db import DatabaseError
from django.urls import reverse
from django.utils.crypto import salted_hmac
from rest_framework import status
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from gateway.core.errors import InvalidRequest, exception_handler, to_gateway_error
from gateway.core.logging import client_secrets_scrubbed
from payments.enums import PaymentStatus, RefundStatus
from payments.selectors import payment_get_for_client, payment_with_refunds
from payments.serializers import (
    PaymentProcessSerializer,
    PaymentSerializer,
    PaymentStatusSerializer,
    RefundSerializer,
)
from payments.services.checkout import payment_link_token
from payments.services.idempotency import (
    Claim,
    Replay,
    idempotency_begin,
    idempotency_complete,
    idempotency_release,
    idempotency_stored_answer,
)
from payments.services.process import raw_card_data_ensure_accepted

# --- the Idempotency-Key header (`@idempotent` on a view method) ---------------------------

REPLAYED_HEADER = "Idempotent-Replayed"
# Only for the answer to the request that made it: never stored, so a replay
# does not carry it (the payment's next_action is on the payment itself).
# A webhook endpoint's signing secret too: a replay answers without it (rotate
# the secret to see a new one), so no copy of it sits in idempotency records.
_NEVER_STORED = ("client_secret", "secret")


def request_fingerprints(request) -> tuple[str, tuple[str, ...]]:
    """The request's fingerprint, and the same under each secret being rotated
    out (SECRET_KEY_FALLBACKS): the same parameters give the same fingerprint,
    whatever their order or spacing, and a retry across a rotation of
    DJANGO_SECRET_KEY is still recognised as the same request.

    A keyed hash (HMAC-SHA256 under the server's secret), never a plain one: the
    body may hold a raw card, and a plain hash of a card number can be brute-forced
    from the last4 and expiry the payment row keeps."""
    canonical = json.dumps(request.data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
    value = f"{request.method} {request.path}\n{canonical}"
    # The salt keeps its first module's name, so that stored fingerprints stay valid.
    salt = "gateway.idempotency.fingerprint"
    current = salted_hmac(salt, value, algorithm="sha256").hexdigest()
    earlier = tuple(
        salted_hmac(salt, value, secret=secret, algorithm="sha256").hexdigest()
        for secret in settings.SECRET_KEY_FALLBACKS
    )
    return current, earlier


def _stored_body(data) -> dict:
    body = client_secrets_scrubbed(json.loads(json.dumps(data, cls=JSONEncoder)))
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
            if settings.IDEMPOTENCY_KEY_REQUIRED:
                # A write without a key cannot be retried safely: refused before anything happens.
                raise InvalidRequest(
                    "Send an Idempotency-Key header with every write: a retry with the same key "
                    "is answered once, never done twice.",
                    code="idempotency_key_required",
                    param="Idempotency-Key",
                )
            return handler(self, request, *args, **kwargs)
        if isinstance(request.data, dict) and "card" in request.data:
            # Refused before any work, and so before the key is claimed: no
            # fingerprint of a raw card is kept where raw cards are not accepted.
            raw_card_data_ensure_accepted()
        fingerprint, earlier_fingerprints = request_fingerprints(request)
        claim = idempotency_begin(
            client=request.auth,
            key=key,
            method=request.method,
            path=request.path,
            fingerprint=fingerprint,
            earlier_fingerprints=earlier_fingerprints,
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
            kept = idempotency_complete(
                claim=claim, status=response.status_code, body=_stored_body(response.data)
            )
        except Exception:
            _release_quietly(claim)
            raise
        if not kept:
            # This request's lease ran out and a retry took the key over: the
            # retry's answer is the key's answer, once it has one.
            stored = idempotency_stored_answer(claim=claim)
            if stored is not None:
                return Response(stored.body, status=stored.status, headers={REPLAYED_HEADER: "true"})
        return response

    return wrapper


# --- the request's actor and the answer's shapes --------------------------------------------


def client_actor(request) -> str:
    return f"api:{request.auth.key_prefix}"


def payment_input(request, serializer: PaymentProcessSerializer):
    """The validated payment, tied to the request's Idempotency-Key claim, if any:
    every attempt with that key works on the same payment and PSP charge."""
    data = serializer.to_payment_input()
    claim = idempotency_claim(request)
    if claim is None:
        return data
    return replace(data, uuid=claim.operation_uuid, resume=claim.resumed)


def refund_operation(request) -> dict:
    """payment_refund's operation_key and resume, from the request's Idempotency-Key claim."""
    claim = idempotency_claim(request)
    if claim is None:
        return {}
    return {"operation_key": str(claim.operation_uuid), "resume": claim.resumed}


def wants_async(request, data: dict) -> bool:
    return bool(data.get("async")) or "respond-async" in request.headers.get("Prefer", "")


def process_status(outcome) -> int:
    """201 once the payment has an outcome; 202 while it is processing."""
    if outcome.payment.status == PaymentStatus.PROCESSING:
        return status.HTTP_202_ACCEPTED
    return status.HTTP_201_CREATED


def refund_status(refund) -> int:
    """201 once the refund has an outcome; 202 while it is `pending`: the PSP
    did not answer (or has not settled it), and reconciliation will."""
    if refund.status == RefundStatus.PENDING:
        return status.HTTP_202_ACCEPTED
    return status.HTTP_201_CREATED


def payment_body(outcome, request=None) -> dict:
    body = PaymentSerializer(outcome.payment).data
    if outcome.client_secret:
        body["client_secret"] = outcome.client_secret
    if outcome.next_action:
        body["next_action"] = outcome.next_action
    body["receipt_url"] = outcome.receipt_url or None
    if outcome.payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD:
        body["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        body["payment_url"] = payment_url(outcome.payment, request)
    return body


def payment_url(payment, request=None) -> str:
    """The hosted payment page of a payment created with `confirm: false`."""
    path = reverse("payment-page", kwargs={"token": payment_link_token(payment)})
    if settings.PUBLIC_BASE_URL or request is None:
        return f"{settings.PUBLIC_BASE_URL}{path}"
    return request.build_absolute_uri(path)


def refund_answer(refund) -> dict:
    """The answer to a refund, from /payments/{id}/refund and /stripe/refund
    alike: the refund, with its payment and all its refunds as they are now."""
    body = RefundSerializer(refund).data
    body["payment"] = PaymentSerializer(payment_with_refunds(refund.payment)).data
    return body


# --- reading one payment ---------------------------------------------------------------------


def payment_read_body(*, client, public_id: str, status_only: bool = False) -> dict:
    """GET one payment with its refunds, or its status: the answer of the
    views and of the route in front of Django (payments.read_route) alike."""
    if status_only:
        payment = payment_get_for_client(client=client, public_id=public_id, with_refunds=False)
        return PaymentStatusSerializer(payment).data
    return PaymentSerializer(payment_get_for_client(client=client, public_id=public_id)).data
