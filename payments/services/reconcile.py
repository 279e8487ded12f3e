"""Reconciliation's one home: settling payments and refunds whose outcome the
gateway does not know yet (a timeout, a crash, a lost webhook), the periodic
sweep of the stuck ones (beat), and the operators' decision on the payments it
cannot settle alone. The commands (stripe_reconcile, refund_reconcile,
payment_review_resolve), the admin actions and the task call these.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from gateway.core.errors import Conflict, GatewayError, InvalidRequest
from payments.enums import ConfirmationMethod, EventType, PaymentStatus, RefundStatus
from payments.models import IdempotencyKey, Payment, Refund
from payments.providers import RefundRequest, get_provider
from payments.selectors import payments_to_reconcile, refunds_to_reconcile
from payments.services.charges import (
    payment_apply_charge_result,
    payment_charge,
    payment_fail,
    payment_past_psp_idempotency_window,
    payment_sync_from_psp,
)
from payments.services.events import payment_event_record
from payments.services.payments import (
    payment_charge_is_ours,
    payment_locked,
    payment_park_for_review,
)
from payments.services.refunds import refund_send, refund_settle

RECONCILABLE_STATUSES = (
    PaymentStatus.PROCESSING,
    PaymentStatus.REQUIRES_PAYMENT_METHOD,  # the payer may have paid and the webhook been lost
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.REQUIRES_CAPTURE,
)


def payment_reconcile(*, payment: Payment, actor: str) -> Payment:
    """Settles a payment whose outcome the gateway does not know yet.

    With a PaymentIntent id, the PSP's current state decides. A payment left
    `processing` with no PaymentIntent (the charge call timed out, failed
    without an answer, or never left: the process died first) is found, never
    charged, by a search of the PSP for our metadata: reconciliation sends a
    charge only when the gateway promised one (a payment queued with
    `async: true`, answered 202) and the PSP still remembers its key. A
    synchronous request that died may have been retried by its client without
    a key, as a second payment; charging the first one hours later would charge
    twice. When the search cannot decide, the payment is parked for an operator
    (review_reason). Idempotent: a settled payment is returned unchanged.
    """
    if payment.status not in RECONCILABLE_STATUSES:
        return payment
    if payment.stripe_payment_intent_id:
        return payment_sync_from_psp(payment=payment, actor=actor)
    if payment.status == PaymentStatus.PROCESSING and (
        payment.payment_method_id or payment.confirmation_method == ConfirmationMethod.CLIENT
    ):
        if payment_charge_promised(payment) and not payment_past_psp_idempotency_window(payment):
            try:
                return payment_charge(payment=payment, actor=actor).payment
            except GatewayError:
                return Payment.objects.get(pk=payment.pk)  # a decline is recorded on the payment
        if not payment_searchable(payment):
            return payment  # the PSP's search may not show it yet: next round
        return _payment_reconcile_by_search(payment=payment, actor=actor)
    return payment


def payment_charge_promised(payment: Payment) -> bool:
    """Whether the gateway owes this payment its charge, so that a charge that
    never left (or whose answer was lost) is still to be sent: it was queued
    with `async`, or its charge's answer was lost under an Idempotency-Key
    (the client retries with that key and resumes this payment). Without a
    key, a 202 may never have reached a client that gave up waiting and sent a
    second payment: such a charge is only searched for."""
    if payment.confirmation_method == ConfirmationMethod.CLIENT:
        return True  # its PaymentIntent is created unconfirmed: sending it again takes no money
    if payment.events.filter(type=EventType.PROCESSING, data__async=True).exists():
        return True
    return (
        payment.events.filter(type=EventType.CHARGE_UNKNOWN).exists()
        and IdempotencyKey.objects.filter(client_id=payment.client_id, operation_uuid=payment.uuid).exists()
    )


def payment_searchable(payment: Payment, *, now=None) -> bool:
    """Whether the PSP's search index covers a charge sent for this payment: the
    index lags (about a minute at Stripe), so a payment younger than
    PSP_SEARCH_LAG_SECONDS may not be found although it was charged."""
    lag = timedelta(seconds=settings.PSP_SEARCH_LAG_SECONDS)
    return payment.updated_at <= (now or timezone.now()) - lag


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
        reason = "no PaymentIntent carries this payment at the PSP; not charged again"
    else:
        reason = f"{len(found)} PaymentIntents carry this payment's id: " + ", ".join(
            r.payment_intent_id for r in found
        )
    return payment_park_for_review(payment=payment, reason=reason, actor=actor)


_MONEY_HELD = ("succeeded", "requires_capture", "processing", "requires_action")
# The metadata of a refund that returns a charge the PSP should not have taken.
REVIEW_RETURN = "return_charge"


def payment_review_resolve(
    *,
    payment: Payment,
    payment_intent_id: str,
    actor: str,
    not_charged: bool = False,
    return_charge: bool = False,
) -> Payment:
    """An operator's decision on a parked payment, always checked against the PSP
    again, never taken on the operator's word alone:

    - `payment_intent_id`: settle it from the PaymentIntent they found (it must
      be this payment's). Refused while the PSP holds money for a payment we
      recorded failed or canceled: that needs `return_charge`.
    - `not_charged`: no charge exists. The PSP is asked again (the payment's
      PaymentIntent, and a search by our metadata); refused if any of them
      holds money. Fails the payment if it is not final yet.
    - `return_charge`: the PSP took money it should not have: for a payment
      recorded failed or canceled (a charge that succeeded after we gave up on
      it), every PaymentIntent of it; for a charged payment, every one but its
      own (a second charge). The money goes back: an authorization or a
      pending authentication is canceled, a capture refunded in full, each with
      a key of its own; the review is cleared once the PSP confirms it.
    """
    if not payment.review_reason:
        raise Conflict("This payment does not need a review.", code="no_review_needed")
    if return_charge:
        return _review_return_charge(payment=payment, actor=actor)
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
        if payment.status in _NOT_CHARGED and result.status in _MONEY_HELD:
            raise Conflict(
                f"The PSP holds money for {payment_intent_id} ({result.status}) but this payment is recorded "
                f"{payment.status}; return the charge (--return-charge) to resolve it.",
                code="psp_holds_money",
            )
        extra = _charges_to_return(payment)
        if extra:
            raise Conflict(
                "Other PaymentIntents of this payment hold money: "
                + ", ".join(f"{r.payment_intent_id} ({r.status})" for r in extra)
                + "; return them (--return-charge) to resolve it.",
                code="psp_holds_money",
            )
    elif not_charged:
        held = [r for r in _psp_charges_of(payment) if r.status in _MONEY_HELD]
        if held:
            raise Conflict(
                "The PSP shows a charge for this payment: "
                + ", ".join(f"{r.payment_intent_id} ({r.status})" for r in held),
                code="psp_holds_money",
            )
        if payment.status not in _NOT_CHARGED:
            payment = payment_fail(
                payment=payment,
                code="not_charged",
                message="An operator found no charge at the PSP after reconciliation could not decide.",
                actor=actor,
            )
    else:
        raise InvalidRequest("Say what was found: a PaymentIntent, not charged, or return the charge.")
    return _review_clear(
        payment=payment, actor=actor, data={"decision": "settled" if payment_intent_id else "not_charged"}
    )


_NOT_CHARGED = (PaymentStatus.FAILED, PaymentStatus.CANCELED)


def _psp_charges_of(payment: Payment) -> list:
    """Every PaymentIntent of this payment at the PSP: its own, and any other a
    search by our metadata finds."""
    provider = get_provider()
    found = {}
    if payment.stripe_payment_intent_id:
        found[payment.stripe_payment_intent_id] = provider.retrieve_charge(
            payment_intent_id=payment.stripe_payment_intent_id
        )
    for result in provider.find_charges(metadata={"gateway_payment_uuid": str(payment.uuid)}):
        found.setdefault(result.payment_intent_id, result)
    return [r for r in found.values() if payment_charge_is_ours(payment=payment, result=r)]


def _charges_to_return(payment: Payment) -> list:
    """The PaymentIntents holding money that this payment should not have: all of
    them when it is recorded not charged, else all but its own."""
    held = [r for r in _psp_charges_of(payment) if r.status in _MONEY_HELD]
    if payment.status in _NOT_CHARGED:
        return held
    return [r for r in held if r.payment_intent_id != payment.stripe_payment_intent_id]


def _review_return_charge(*, payment: Payment, actor: str) -> Payment:
    extra = _charges_to_return(payment)
    if not extra:
        raise Conflict("The PSP holds no money this payment should not have.", code="nothing_to_return")
    provider = get_provider()
    returned = []
    for result in extra:
        if result.status in ("requires_capture", "requires_action"):
            provider.cancel(
                payment_intent_id=result.payment_intent_id,
                idempotency_key=f"gw-review-cancel-{result.payment_intent_id}",
            )
            returned.append({"payment_intent": result.payment_intent_id, "canceled": True})
            continue
        if result.status != "succeeded":
            raise Conflict(
                f"{result.payment_intent_id} is {result.status} at the PSP; run this again once it settles.",
                code="return_pending",
            )
        refunds = provider.list_refunds(payment_intent_id=result.payment_intent_id)
        if any(r.status == RefundStatus.PENDING for r in refunds):
            raise Conflict(
                f"A refund of {result.payment_intent_id} is pending at the PSP; "
                "run this again once it settles.",
                code="return_pending",
            )
        left = result.amount_received_minor - sum(
            r.amount_minor for r in refunds if r.status == RefundStatus.SUCCEEDED
        )
        if left <= 0:
            continue
        refund = provider.refund(
            request=RefundRequest(
                payment_intent_id=result.payment_intent_id,
                amount_minor=left,
                idempotency_key=f"gw-review-refund-{result.payment_intent_id}-{left}",
                # Not one of the payment's refunds: the webhook leaves it alone.
                metadata={"payment_id": payment.public_id, "review": REVIEW_RETURN},
            )
        )
        if refund.status != RefundStatus.SUCCEEDED:
            raise Conflict(
                f"The PSP's refund {refund.refund_id} is {refund.status}; run this again once it settles.",
                code="return_pending",
            )
        returned.append(
            {"payment_intent": result.payment_intent_id, "refund": refund.refund_id, "amount_minor": left}
        )
    return _review_clear(
        payment=payment, actor=actor, data={"decision": "charge_returned", "returned": returned}
    )


def _review_clear(*, payment: Payment, actor: str, data: dict) -> Payment:
    with payment_locked(payment) as payment:
        payment_event_record(
            payment=payment,
            type=EventType.REVIEW_RESOLVED,
            actor=actor,
            status_before=payment.status,
            data=data,
        )
        payment.review_reason = ""
        payment.save(update_fields=["review_reason", "updated_at"])
    return payment


def refund_reconcile(*, refund: Refund, actor: str) -> Refund:
    """Settles a refund whose outcome is unknown (a timeout, a refused
    connection, a crash): from the PSP's refund when its id is known, else from
    the PaymentIntent's refunds that carry our refund id in their metadata (a
    list, up to date, unlike a search). When the PSP has none, the refund never
    reached it: it is sent again, which is safe with or without the PSP still
    remembering its idempotency key. Idempotent: a settled refund is returned as it is."""
    if refund.status != RefundStatus.PENDING:
        return refund
    provider = get_provider()
    if refund.stripe_refund_id:
        result = provider.retrieve_refund(refund_id=refund.stripe_refund_id)
    else:
        found = [
            r
            for r in provider.list_refunds(payment_intent_id=refund.payment.stripe_payment_intent_id)
            if r.metadata.get("refund_id") == refund.public_id
        ]
        if not found:
            try:
                return refund_send(refund=refund, actor=actor)
            except GatewayError:
                return Refund.objects.get(pk=refund.pk)  # the refusal is recorded on the refund
        result = found[0]
    if result.status == RefundStatus.PENDING:
        if result.refund_id != refund.stripe_refund_id:
            Refund.objects.filter(pk=refund.pk).update(stripe_refund_id=result.refund_id)
            refund.stripe_refund_id = result.refund_id
        return refund
    return refund_settle(
        refund=refund,
        status=result.status,
        actor=actor,
        stripe_refund_id=result.refund_id,
        failure_code=result.failure_reason,
        failure_message=result.failure_reason,
    )


def reconcile_stuck() -> dict:
    """Settles payments stuck in processing (or awaiting action), and refunds
    left pending, for longer than RECONCILE_AFTER_MINUTES: the same services as
    `manage.py stripe_reconcile` and `manage.py refund_reconcile`."""
    now = timezone.now()
    stuck_since = now - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES)
    settled = failed = refunds_settled = refunds_failed = 0
    for payment in payments_to_reconcile(
        statuses=list(RECONCILABLE_STATUSES),
        created_since=now - timedelta(days=7),
        updated_before=stuck_since,
    ):
        try:
            payment_reconcile(payment=payment, actor="system:reconcile")
            settled += 1
        except GatewayError:
            failed += 1
    for refund in refunds_to_reconcile(updated_before=stuck_since):
        try:
            refund_reconcile(refund=refund, actor="system:reconcile")
            refunds_settled += 1
        except GatewayError:
            refunds_failed += 1
    return {
        "settled": settled,
        "failed": failed,
        "refunds_settled": refunds_settled,
        "refunds_failed": refunds_failed,
    }
