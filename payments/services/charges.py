"""Charging at the PSP and settling from its answer; capture, cancel, confirm.

PSP calls are made outside database transactions, so no lock is held while
the network is slow; the payment is committed as `processing` first, so a
crash mid-call leaves a row that reconciliation can settle.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.core.errors import CardDeclined, Conflict, GatewayError, InvalidRequest, InvalidStateTransition
from gateway.core.logging import client_secrets_scrubbed
from payments.enums import (
    ConfirmationMethod,
    EventType,
    PaymentStatus,
    transition_allowed,
)
from payments.models import Payment
from payments.providers import (
    ChargeRequest,
    ChargeResult,
    PspOutcomeUnknown,
    get_provider,
    psp_refused,
)
from payments.services.events import payment_event_record
from payments.services.payments import (
    PaymentOutcome,
    PaymentRowMoved,
    payment_card_summary_apply,
    payment_lock,
    payment_locked,
    payment_park_for_review,
    payment_save_fields,
    payment_transition,
)
from payments.signals import psp_state_applied_after_commit


def payment_charge(*, payment: Payment, actor: str) -> PaymentOutcome:
    """Charges a recorded payment at the PSP and settles it from the answer.

    A decline is recorded (failed) and raised as 402. A timeout leaves the
    payment `processing` for the webhook or reconciliation to settle: its
    outcome is unknown, so it is not marked failed.
    """
    if payment.status != PaymentStatus.PROCESSING:
        with payment_locked(payment) as payment:
            if payment.status != PaymentStatus.PROCESSING:
                payment = payment_transition(
                    payment=payment,
                    new_status=PaymentStatus.PROCESSING,
                    event_type=EventType.PROCESSING,
                    actor=actor,
                )
    elif payment_past_psp_idempotency_window(payment):
        # It may have been sent before, and the PSP may have forgotten its key:
        # a charge sent now could be a second one. Never sent; an operator decides
        # (reconciliation searches the PSP for it first).
        return PaymentOutcome(
            payment=payment_park_for_review(
                payment=payment,
                reason="past the PSP's idempotency window with no known charge; not sent again",
                actor=actor,
            )
        )
    request = ChargeRequest(
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        # One key per payment: a retried charge (task retry, reconciliation)
        # is the same charge at Stripe, never a second one.
        idempotency_key=f"gw-charge-{payment.uuid}",
        payment_method_id="" if payment.payment_method_id.startswith("tok_") else payment.payment_method_id,
        token=payment.payment_method_id if payment.payment_method_id.startswith("tok_") else "",
        description=payment.description,
        metadata={
            "payment_id": payment.public_id,
            "order_id": payment.order_id,
            "gateway_payment_uuid": str(payment.uuid),
        },
        return_url=payment.return_url,
        capture_method=payment.capture_method,
        confirm=payment.confirmation_method == ConfirmationMethod.SERVER,
    )
    try:
        result = get_provider().charge(request=request)
    except PspOutcomeUnknown:
        with payment_locked(payment) as payment:
            payment_event_record(
                payment=payment, type=EventType.CHARGE_UNKNOWN, actor=actor, status_before=payment.status
            )
        return PaymentOutcome(payment=payment)
    except GatewayError as exc:
        if not psp_refused(exc):
            # Not the card's answer (our key was refused, the PSP is rate limiting or
            # answered what we cannot read): nothing says the charge failed. The
            # payment stays processing; a retry with the same key sends it again.
            raise
        # The PSP refused the charge (a decline, an invalid request). Record why,
        # then tell the client.
        payment = payment_fail(
            payment=payment, code=exc.extra.get("decline_code") or exc.code, message=exc.message, actor=actor
        )
        exc.extra.setdefault("payment_id", payment.public_id)
        raise
    payment = payment_apply_charge_result(payment=payment, result=result, actor=actor)
    return PaymentOutcome(
        payment=payment,
        client_secret=result.client_secret,
        receipt_url=result.receipt_url,
        next_action=result.next_action if payment.status == PaymentStatus.REQUIRES_ACTION else None,
    )


def payment_past_psp_idempotency_window(payment: Payment, *, now=None) -> bool:
    """Whether the PSP may have forgotten the payment's charge key: a charge sent
    again now could be a new one instead of the first one's answer."""
    window = timedelta(hours=settings.PSP_IDEMPOTENCY_WINDOW_HOURS)
    return payment.created_at <= (now or timezone.now()) - window


def payment_fail(*, payment: Payment, code: str, message: str, actor: str) -> Payment:
    with payment_locked(payment) as payment:
        payment.failure_code = code[:100]
        payment.failure_message = message[:500]
        return payment_transition(
            payment=payment,
            new_status=PaymentStatus.FAILED,
            event_type=EventType.CHARGE_FAILED,
            actor=actor,
            data={"failure_code": payment.failure_code},
            update_fields=["failure_code", "failure_message"],
        )


_RESULT_TO_STATUS = {
    "requires_payment_method": (PaymentStatus.REQUIRES_PAYMENT_METHOD, EventType.REQUIRES_PAYMENT_METHOD),
    "succeeded": (PaymentStatus.SUCCEEDED, EventType.CHARGE_SUCCEEDED),
    "requires_action": (PaymentStatus.REQUIRES_ACTION, EventType.REQUIRES_ACTION),
    "requires_capture": (PaymentStatus.REQUIRES_CAPTURE, EventType.AUTHORIZED),
    "failed": (PaymentStatus.FAILED, EventType.CHARGE_FAILED),
    "canceled": (PaymentStatus.CANCELED, EventType.CANCELED),
}


def payment_apply_charge_result(
    *,
    payment: Payment,
    result: ChargeResult,
    actor: str,
    event_type: str | None = None,
    cancellation_reason: str = "",
) -> Payment:
    """Settles a payment from the PSP's view of its charge. Idempotent: a result
    that is already applied (the webhook came first) changes nothing, and a
    result the transition table forbids (an old event) is ignored.

    First as a compare-and-set on the status the caller last read (no lock
    read); if a webhook or another request moved the payment meanwhile, again
    from the row read under lock.
    """
    with transaction.atomic():
        psp_state_applied_after_commit(payment.pk)
        try:
            payment = _settle(
                payment, result, actor, event_type, cancellation_reason, expected_status=payment.status
            )
        except PaymentRowMoved:
            payment = _settle(
                payment_lock(payment=payment),
                result,
                actor,
                event_type,
                cancellation_reason,
                expected_status=None,
            )
    if result.status == "succeeded" and payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        # The PSP took the money for a payment recorded as not charged: never
        # ignored, never settled by a guess. An operator decides.
        payment = payment_park_for_review(
            payment=payment,
            reason=f"the PSP reports {result.payment_intent_id} succeeded; recorded {payment.status}",
            actor=actor,
        )
    return payment


_SETTLE_FIELDS = [
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "payment_method_id",
    "card_brand",
    "card_last4",
    "card_exp_month",
    "card_exp_year",
    "card_fingerprint",
]


def _settle(
    payment: Payment,
    result: ChargeResult,
    actor: str,
    event_type: str | None,
    cancellation_reason: str,
    *,
    expected_status: str | None,
) -> Payment:
    payment.stripe_payment_intent_id = result.payment_intent_id or payment.stripe_payment_intent_id
    payment.stripe_charge_id = result.charge_id or payment.stripe_charge_id
    payment.payment_method_id = result.payment_method_id or payment.payment_method_id
    payment_card_summary_apply(payment, result.card)
    target = _RESULT_TO_STATUS.get(result.status)
    if result.status == "failed" and payment.confirmation_method == ConfirmationMethod.CLIENT:
        # The payer's card was declined (or 3-D Secure failed): the PaymentIntent
        # waits for another card, and so does the payment, until it is canceled or expires.
        target = (PaymentStatus.REQUIRES_PAYMENT_METHOD, EventType.ATTEMPT_FAILED)
    if target is None or payment.status == target[0] or not transition_allowed(payment.status, target[0]):
        payment_save_fields(payment, fields=_SETTLE_FIELDS, expected_status=expected_status)
        return payment
    new_status, default_event = target
    if new_status == PaymentStatus.SUCCEEDED:
        payment.captured_minor = result.amount_received_minor or payment.amount_minor
        payment.failure_code = payment.failure_message = ""
    if new_status == PaymentStatus.REQUIRES_ACTION:
        # Kept without its client secret; the answer that made it has the whole (PaymentOutcome).
        payment.next_action = client_secrets_scrubbed(result.next_action)
    else:
        payment.next_action = None
    if new_status == PaymentStatus.FAILED or default_event == EventType.ATTEMPT_FAILED:
        payment.failure_code = (result.decline_code or result.failure_code or "payment_failed")[:100]
        payment.failure_message = result.failure_message[:500]
    data = {"payment_intent": result.payment_intent_id}
    if new_status == PaymentStatus.CANCELED:
        payment.cancellation_reason = cancellation_reason or payment.cancellation_reason
        data["reason"] = payment.cancellation_reason
    return payment_transition(
        payment=payment,
        new_status=new_status,
        event_type=default_event
        if default_event == EventType.ATTEMPT_FAILED
        else event_type or default_event,
        actor=actor,
        data=data,
        update_fields=[
            *_SETTLE_FIELDS,
            "captured_minor",
            "next_action",
            "failure_code",
            "failure_message",
            "cancellation_reason",
        ],
        expected_status=expected_status,
    )


_CANCELABLE_LOCALLY = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_OTP)

_CANCELABLE_AT_PSP = (
    PaymentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.REQUIRES_CAPTURE,
)

# Stored on the payment (cancellation_reason) and in its canceled event.
CANCELED_BY_MERCHANT = "requested"
CANCELED_EXPIRED = "expired"


def payment_cancel(
    *, payment: Payment, actor: str, reason: str = "", cancellation_reason: str = ""
) -> Payment:
    """Cancels a payment that has not been captured: locally when nothing was
    sent to the PSP, else by canceling its PaymentIntent first.

    The PSP decides a race with the payer: a PaymentIntent the payer completed
    (or is completing) cannot be canceled, and the payment is then settled
    from the PSP's state instead, never marked canceled with money taken."""
    if payment.status in _CANCELABLE_AT_PSP and payment.stripe_payment_intent_id:
        try:
            result = get_provider().cancel(
                payment_intent_id=payment.stripe_payment_intent_id,
                idempotency_key=f"gw-cancel-{payment.uuid}",
            )
        except InvalidRequest:
            # Not cancelable at the PSP any more (succeeded, processing, canceled):
            # its state is the answer.
            synced = payment_sync_from_psp(payment=payment, actor=actor)
            if synced.status == PaymentStatus.CANCELED:
                return synced
            raise InvalidStateTransition(
                f"The payment is '{synced.status}' at the PSP; it cannot be canceled.",
                status=synced.status,
            ) from None
        return payment_apply_charge_result(
            payment=payment, result=result, actor=actor, cancellation_reason=cancellation_reason
        )
    with payment_locked(payment) as payment:
        if payment.status not in _CANCELABLE_LOCALLY:
            raise InvalidStateTransition(
                f"A payment in status '{payment.status}' cannot be canceled.",
                status=payment.status,
            )
        payment.cancellation_reason = cancellation_reason
        return payment_transition(
            payment=payment,
            new_status=PaymentStatus.CANCELED,
            event_type=EventType.CANCELED,
            actor=actor,
            data={"reason": cancellation_reason or reason},
            update_fields=["cancellation_reason"],
        )


def payment_capture(*, payment: Payment, amount_minor: int | None, actor: str) -> Payment:
    """Captures an authorized payment (capture_method=manual), all or part of it."""
    if payment.status != PaymentStatus.REQUIRES_CAPTURE:
        raise InvalidStateTransition(
            f"A payment in status '{payment.status}' cannot be captured.",
            status=payment.status,
        )
    amount = payment.amount_minor if amount_minor is None else amount_minor
    if amount > payment.amount_minor:
        raise InvalidRequest(
            "The capture is larger than the authorized amount.",
            code="amount_too_large",
            param="amount",
            extra={"authorized_minor": payment.amount_minor},
        )
    result = get_provider().capture(
        payment_intent_id=payment.stripe_payment_intent_id,
        amount_minor=amount,
        # One key per amount: a retry of the same capture is the same call at the
        # PSP, and a capture of another amount after a failed one is not refused
        # as a reuse of the key for 24 hours.
        idempotency_key=f"gw-capture-{payment.uuid}-{amount}",
    )
    return payment_apply_charge_result(
        payment=payment, result=result, actor=actor, event_type=EventType.CAPTURED
    )


_CONFIRMED = (PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE)


def payment_confirm(*, payment: Payment, actor: str) -> Payment:
    """After the customer authenticated (3-D Secure), settles the payment from
    the PSP. Still unauthenticated is a 409; a failed authentication a 402.

    A payment the webhook settled first (it often wins the race right after
    authentication) is answered as it is: the client's intent is met."""
    if payment.status in _CONFIRMED:
        return payment
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        raise InvalidStateTransition(
            f"A payment in status '{payment.status}' has nothing to confirm.",
            status=payment.status,
        )
    payment = payment_sync_from_psp(payment=payment, actor=actor)
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        raise Conflict(
            "The customer has not completed authentication yet.",
            code="authentication_required",
            extra={"next_action": payment.next_action},
        )
    if payment.status == PaymentStatus.FAILED:
        raise CardDeclined(
            "The customer's authentication failed.",
            code=payment.failure_code or "authentication_failed",
            extra={"decline_code": payment.failure_code, "payment_id": payment.public_id},
        )
    return payment


# Statuses the PSP can still move (a 3-D Secure completed, an authorization
# captured elsewhere, an unknown outcome settled); the others are settled here.
PSP_OPEN_STATUSES = frozenset(
    {PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE}
)


def payment_needs_psp_refresh(*, payment: Payment) -> bool:
    return bool(payment.stripe_payment_intent_id) and payment.status in PSP_OPEN_STATUSES


def payment_sync_from_psp(*, payment: Payment, actor: str) -> Payment:
    """Re-reads the payment's PaymentIntent at the PSP and settles from it."""
    if not payment.stripe_payment_intent_id:
        return payment
    result = get_provider().retrieve_charge(payment_intent_id=payment.stripe_payment_intent_id)
    return payment_apply_charge_result(
        payment=payment, result=result, actor=actor, event_type=EventType.STATUS_SYNCED
    )
