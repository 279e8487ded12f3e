"""Settling payments whose outcome the gateway does not know yet, and the
operators' decision on the ones reconciliation cannot settle alone.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from gateway.errors import Conflict, GatewayError, InvalidRequest
from payments.enums import EventType, PaymentStatus
from payments.models import Payment
from payments.providers import (
    get_provider,
)
from payments.services.charges import (
    payment_apply_charge_result,
    payment_charge,
    payment_fail,
    payment_sync_from_psp,
)
from payments.services.payments import (
    payment_charge_is_ours,
    payment_park_for_review,
)

RECONCILABLE_STATUSES = (
    PaymentStatus.PROCESSING,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.REQUIRES_CAPTURE,
)


def payment_reconcile(*, payment: Payment, actor: str) -> Payment:
    """Settles a payment whose outcome the gateway does not know yet.

    With a PaymentIntent id, the PSP's current state decides. A payment left
    `processing` with no PaymentIntent (the charge call timed out or never got
    an answer) is charged again with the same idempotency key while the PSP
    still remembers that key: it answers with the first charge if there was
    one, so nothing is charged twice. Past that window a resent charge would
    be a new one, so the PaymentIntent is searched for by our metadata
    instead; when the search cannot decide, the payment is parked for an
    operator (review_reason). Idempotent: a settled payment is returned unchanged.
    """
    if payment.status not in RECONCILABLE_STATUSES:
        return payment
    if payment.stripe_payment_intent_id:
        return payment_sync_from_psp(payment=payment, actor=actor)
    if payment.status == PaymentStatus.PROCESSING and payment.payment_method_id:
        if payment_past_psp_idempotency_window(payment):
            return _payment_reconcile_by_search(payment=payment, actor=actor)
        try:
            return payment_charge(payment=payment, actor=actor).payment
        except GatewayError:
            return Payment.objects.get(pk=payment.pk)  # the decline is recorded on the payment
    return payment


def payment_past_psp_idempotency_window(payment: Payment, *, now=None) -> bool:
    window = timedelta(hours=settings.PSP_IDEMPOTENCY_WINDOW_HOURS)
    return payment.created_at <= (now or timezone.now()) - window


def _payment_reconcile_by_search(*, payment: Payment, actor: str) -> Payment:
    try:
        found = get_provider().find_charges(metadata={"gateway_payment_uuid": str(payment.uuid)})
    except GatewayError as exc:
        return payment_park_for_review(
            payment=payment, reason=f"the PSP search failed ({exc.code}); not charged again", actor=actor
        )
    found = [result for result in found if payment_charge_is_ours(payment=payment, result=result)] or found
    if len(found) == 1 and payment_charge_is_ours(payment=payment, result=found[0]):
        payment = payment_apply_charge_result(
            payment=payment, result=found[0], actor=actor, event_type=EventType.STATUS_SYNCED
        )
        if payment.review_reason:
            Payment.objects.filter(pk=payment.pk).update(review_reason="")
            payment.review_reason = ""
        return payment
    if not found:
        reason = "past the PSP's idempotency window, no PaymentIntent carries this payment; not charged again"
    else:
        reason = f"{len(found)} PaymentIntents carry this payment's id: " + ", ".join(
            r.payment_intent_id for r in found
        )
    return payment_park_for_review(payment=payment, reason=reason, actor=actor)


def payment_review_resolve(*, payment: Payment, payment_intent_id: str, actor: str) -> Payment:
    """An operator's decision on a parked payment: settle it from the
    PaymentIntent they found at the PSP, or (no id) record that it was never
    charged, which fails it."""
    if not payment.review_reason:
        raise Conflict("This payment does not need a review.", code="no_review_needed")
    if payment_intent_id:
        result = get_provider().retrieve_charge(payment_intent_id=payment_intent_id)
        if result.payment_intent_id != payment_intent_id or not payment_charge_is_ours(
            payment=payment, result=result
        ):
            raise InvalidRequest(
                "That PaymentIntent is not this payment's (its metadata, amount or currency differ).",
                param="payment_intent",
            )
        payment = payment_apply_charge_result(
            payment=payment, result=result, actor=actor, event_type=EventType.STATUS_SYNCED
        )
    else:
        payment = payment_fail(
            payment=payment,
            code="not_charged",
            message="An operator found no charge at the PSP after reconciliation could not decide.",
            actor=actor,
        )
    Payment.objects.filter(pk=payment.pk).update(review_reason="")
    payment.review_reason = ""
    return payment
