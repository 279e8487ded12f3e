"""Refunds: never more than was captured, whatever the PSP would accept.

The amount is reserved on the locked payment row (refunded_minor) before the
PSP is called, so concurrent refunds cannot together exceed the capture; a
refund that fails gives its reservation back. localstripe accepts over-refunds,
and this module is why the gateway does not.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db.models import Sum
from django.utils import timezone

from gateway.core.errors import Conflict, GatewayError, InvalidRequest
from payments.enums import REFUNDABLE_STATUSES, EventType, PaymentStatus, RefundReason, RefundStatus
from payments.models import Payment, Refund
from payments.money import format_amount
from payments.providers import PspOutcomeUnknown, RefundRequest, get_provider
from payments.services.events import payment_event_record
from payments.services.payments import payment_locked, payment_transition
from payments.signals import psp_state_applied_after_commit

_STRIPE_REASONS = {RefundReason.DUPLICATE, RefundReason.FRAUDULENT, RefundReason.REQUESTED_BY_CUSTOMER}


def refund_reason_split(reason: str) -> tuple[str, str]:
    """Free text from the seed's clients -> (Stripe reason or 'other', the text)."""
    reason = (reason or "").strip()
    if not reason:
        return "", ""
    if reason in _STRIPE_REASONS:
        return reason, ""
    return RefundReason.OTHER, reason[:500]


def refund_public_id_for(*, payment: Payment, operation_key: str) -> str:
    """The refund id that one submission (an Idempotency-Key's operation, an
    admin form's one-time token) makes on this payment: the same on every
    attempt, so a retry or a double submit finds the first refund."""
    digest = hashlib.sha256(f"{payment.uuid}:{operation_key}".encode()).hexdigest()
    return f"re_{digest[:20]}"


def _reserve(
    *, payment: Payment, amount_minor: int | None, reason: str, actor: str, public_id: str = ""
) -> Refund:
    with payment_locked(payment) as payment:
        earlier = Refund.objects.filter(public_id=public_id, payment=payment).first() if public_id else None
        if earlier is not None:
            # Another attempt of the same submission (a retry that took its key
            # over) reserved it first: the same refund, never refused as too large.
            return earlier
        if payment.status not in REFUNDABLE_STATUSES:
            raise Conflict(
                f"A payment in status '{payment.status}' cannot be refunded.",
                code="payment_not_refundable",
                extra={"status": payment.status},
            )
        refundable = payment.refundable_minor
        amount = refundable if amount_minor is None else amount_minor
        if refundable <= 0:
            raise Conflict("Nothing is left to refund on this payment.", code="payment_fully_refunded")
        if amount > refundable:
            raise InvalidRequest(
                f"The refund ({format_amount(amount, payment.currency)}) is larger than what remains "
                f"refundable ({format_amount(refundable, payment.currency)} {payment.currency.upper()}).",
                code="amount_too_large",
                param="amount",
                extra={"refundable_minor": refundable},
            )
        code, text = refund_reason_split(reason)
        return _refund_row_reserve(
            payment=payment,
            amount_minor=amount,
            reason=code,
            reason_text=text,
            actor=actor,
            public_id=public_id,
        )


def _refund_row_reserve(
    *,
    payment: Payment,
    amount_minor: int,
    reason: str,
    reason_text: str,
    actor: str,
    stripe_refund_id: str = "",
    public_id: str = "",
) -> Refund:
    """Creates a pending refund and reserves its amount on the locked payment row."""
    refund = Refund.objects.create(
        public_id=public_id or f"re_{secrets.token_hex(10)}",
        payment=payment,
        amount_minor=amount_minor,
        currency=payment.currency,
        reason=reason,
        reason_text=reason_text,
        actor=actor,
        stripe_refund_id=stripe_refund_id,
    )
    payment.refunded_minor += amount_minor
    payment.refund_count += 1
    payment.save(update_fields=["refunded_minor", "refund_count", "updated_at"])
    data = {"refund_id": refund.public_id, "amount_minor": amount_minor}
    if stripe_refund_id:
        data["external"] = True
    payment_event_record(
        payment=payment, type=EventType.REFUND_CREATED, actor=actor, data=data, refund=refund
    )
    return refund


def refund_settle(
    *,
    refund: Refund,
    status: str,
    actor: str,
    stripe_refund_id: str = "",
    failure_code: str = "",
    failure_message: str = "",
) -> Refund:
    """Applies a refund's final state. Idempotent; a failed refund frees its amount.

    Every change of a payment's refunds happens under the payment's row lock;
    the refund row itself moves out of `pending` by compare-and-set, so a
    refund settled meanwhile (the webhook came first) is left as it is.
    """
    with payment_locked(refund.payment) as payment:
        psp_state_applied_after_commit(payment.pk)
        refund.stripe_refund_id = stripe_refund_id or refund.stripe_refund_id
        refund.updated_at = timezone.now()
        settled = status != RefundStatus.PENDING and Refund.objects.filter(
            pk=refund.pk, status=RefundStatus.PENDING
        ).update(
            status=status,
            stripe_refund_id=refund.stripe_refund_id,
            failure_code=failure_code[:100],
            failure_message=failure_message[:500],
            updated_at=refund.updated_at,
        )
        if not settled:
            Refund.objects.filter(pk=refund.pk).update(
                stripe_refund_id=refund.stripe_refund_id, updated_at=refund.updated_at
            )
            refund = Refund.objects.get(pk=refund.pk)
            refund.payment = payment
            return refund
        refund.status = status
        refund.failure_code, refund.failure_message = failure_code[:100], failure_message[:500]
        if status == RefundStatus.FAILED:
            payment.refunded_minor -= refund.amount_minor
            payment.save(update_fields=["refunded_minor", "updated_at"])
            payment_event_record(
                payment=payment,
                type=EventType.REFUND_FAILED,
                actor=actor,
                data={"refund_id": refund.public_id, "failure_code": refund.failure_code},
                refund=refund,
            )
            refund.payment = payment
            return refund
        succeeded = payment.refunds.filter(status=RefundStatus.SUCCEEDED).aggregate(total=Sum("amount_minor"))
        new_status = (
            PaymentStatus.REFUNDED
            if succeeded["total"] >= payment.captured_minor
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        payment_transition(
            payment=payment,
            new_status=new_status,
            event_type=EventType.REFUND_SUCCEEDED,
            actor=actor,
            data={"refund_id": refund.public_id, "amount_minor": refund.amount_minor},
            refund=refund,
        )
    refund.payment = payment
    return refund


def payment_refund(
    *,
    payment: Payment,
    amount_minor: int | None,
    reason: str,
    actor: str,
    operation_key: str = "",
    resume: bool = False,
) -> Refund:
    """Refunds part or all of what remains; with no amount, all of it.

    operation_key (an Idempotency-Key's operation, an admin form's one-time
    token) fixes the refund's id, and so its PSP idempotency key. With resume
    (a retry after a 5xx, a form submitted twice), a refund already made by
    that submission is picked up where it stopped instead of made again."""
    public_id = refund_public_id_for(payment=payment, operation_key=operation_key) if operation_key else ""
    if resume and public_id:
        earlier = Refund.objects.filter(public_id=public_id, payment=payment).first()
        if earlier is not None:
            return _refund_pick_up(earlier, actor=actor)
    # The same submission's refund, if another attempt reserved it first, else a new one.
    refund = _reserve(
        payment=payment, amount_minor=amount_minor, reason=reason, actor=actor, public_id=public_id
    )
    return _refund_pick_up(refund, actor=actor)


def _refund_pick_up(refund: Refund, *, actor: str) -> Refund:
    return refund_send(refund=refund, actor=actor) if refund.status == RefundStatus.PENDING else refund


def refund_send(*, refund: Refund, actor: str) -> Refund:
    """Sends a pending refund to the PSP with its own idempotency key (the same
    on every attempt) and settles it from the answer."""
    request = RefundRequest(
        payment_intent_id=refund.payment.stripe_payment_intent_id,
        amount_minor=refund.amount_minor,
        idempotency_key=f"gw-refund-{refund.public_id}",
        reason=refund.reason if refund.reason in _STRIPE_REASONS else "",
        metadata={"payment_id": refund.payment.public_id, "refund_id": refund.public_id},
    )
    try:
        result = get_provider().refund(request=request)
    except PspOutcomeUnknown:
        # The refund may have happened: it stays pending, its amount reserved,
        # until the webhook or reconciliation (refund_reconcile) settles it.
        return refund
    except GatewayError as exc:
        # A definite answer: the PSP did not make this refund (a refusal, or our
        # key was refused before anything happened). Failed, its amount freed:
        # left pending, a client retrying without a key would make a second
        # refund, and reconciliation would then send this one too.
        refund_settle(
            refund=refund,
            status=RefundStatus.FAILED,
            actor=actor,
            failure_code=exc.code,
            failure_message=exc.message,
        )
        raise
    return refund_settle(refund=refund, status=result.status, actor=actor, stripe_refund_id=result.refund_id)


def refund_record_external(
    *, payment: Payment, amount_minor: int, stripe_refund_id: str, actor: str
) -> Refund:
    """Records a refund made at the PSP outside the gateway (the Stripe dashboard),
    so that our amounts match the PSP's. Never beyond what was captured."""
    with payment_locked(payment) as payment:
        existing = Refund.objects.filter(stripe_refund_id=stripe_refund_id).first()
        if existing is not None:
            return existing
        amount = min(amount_minor, payment.refundable_minor)
        if amount <= 0:
            raise Conflict(
                "The PSP reports a refund beyond what the gateway captured.", code="refund_exceeds_capture"
            )
        refund = _refund_row_reserve(
            payment=payment,
            amount_minor=amount,
            reason=RefundReason.OTHER,
            reason_text="made at the PSP",
            actor=actor,
            stripe_refund_id=stripe_refund_id,
        )
    return refund_settle(refund=refund, status=RefundStatus.SUCCEEDED, actor=actor)
