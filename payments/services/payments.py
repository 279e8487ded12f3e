"""Payments: their records, the row lock, and the one way a status changes.

Every status change goes through payment_transition(), under a row lock
(payment_locked) or as a compare-and-set, and is checked against the one
transition table in payments.enums. The rest of a payment's life is in the
sibling modules: process (a new payment), charges (the PSP's answer, capture,
cancel, confirm) and reconcile (outcomes the gateway does not know yet).
"""

from __future__ import annotations

import secrets
import uuid as uuid_lib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.core.errors import Conflict, InvalidStateTransition
from payments.enums import (
    ALLOWED_TRANSITIONS,
    ConfirmationMethod,
    EventType,
    PaymentStatus,
    transition_allowed,
)
from payments.models import ApiClient, Payment, Refund
from payments.providers import (
    CardSummary,
)
from payments.services.events import payment_event_record


@dataclass(frozen=True)
class PaymentInput:
    order_id: str
    amount_minor: int
    currency: str
    public_id: str = ""
    description: str = ""
    email: str = ""
    metadata: dict = field(default_factory=dict)
    payment_method_id: str = ""
    token: str = ""
    card: dict | None = None
    require_otp: bool = False
    return_url: str = ""
    capture_method: str = "automatic"
    # False: no payment method now; the payer confirms (the hosted page, Stripe.js).
    confirm: bool = True
    success_url: str = ""
    cancel_url: str = ""
    # Seconds from now after which a payment still waiting is canceled (EXPIRABLE_STATUSES).
    expires_in: int | None = None
    # From the request's Idempotency-Key claim: the payment's uuid, and so its
    # PSP idempotency key, is the same on every attempt with that key; `resume`
    # when an earlier attempt may already have recorded (and charged) it.
    uuid: uuid_lib.UUID | None = None
    resume: bool = False

    def __repr__(self) -> str:  # the card never reaches a log or a traceback
        card = "***" if self.card else None
        return f"PaymentInput(order_id={self.order_id!r}, amount_minor={self.amount_minor}, card={card})"


@dataclass
class PaymentOutcome:
    """A payment, plus what the PSP gave only for this response (never stored)."""

    payment: Payment
    client_secret: str = ""
    receipt_url: str = ""
    next_action: dict | None = None  # as the PSP gave it, its redirect URL's client secret included


def _generate_public_id() -> str:
    return f"pay_{secrets.token_urlsafe(12).replace('-', 'x').replace('_', 'y')}"


def payment_lock(*, payment: Payment) -> Payment:
    """Re-reads the payment with a row lock. Call inside transaction.atomic()."""
    return Payment.objects.select_for_update().get(pk=payment.pk)


@contextmanager
def payment_locked(payment: Payment) -> Iterator[Payment]:
    """`with payment_locked(payment) as locked:` a transaction that holds the
    payment's row lock, on the row as it is now. Every change of a payment's
    money or status happens inside one (Saleor's with_locked_payment)."""
    with transaction.atomic():
        yield payment_lock(payment=payment)


class PaymentAlreadyRecorded(Exception):
    """Another attempt of the same request (its Idempotency-Key's operation)
    recorded this payment first: go on with it, never answer a conflict."""

    def __init__(self, payment: Payment):
        super().__init__(payment.public_id)
        self.payment = payment


class PaymentRowMoved(Exception):
    """A compare-and-set save found the payment no longer in the status it expected."""


def payment_save_fields(payment: Payment, *, fields: list[str], expected_status: str | None) -> None:
    """Saves the fields; with expected_status, only if the row is still in it
    (one UPDATE … WHERE status=…, which also takes the row lock)."""
    if expected_status is None:
        payment.save(update_fields=[*fields, "updated_at"])
        return
    payment.updated_at = timezone.now()
    values = {name: getattr(payment, name) for name in {*fields, "updated_at"}}
    if not Payment.objects.filter(pk=payment.pk, status=expected_status).update(**values):
        raise PaymentRowMoved()


def payment_transition(
    *,
    payment: Payment,
    new_status: str,
    event_type: str,
    actor: str,
    data: dict | None = None,
    update_fields: list[str] | None = None,
    expected_status: str | None = None,
    refund: Refund | None = None,
) -> Payment:
    """Moves a payment to a new status, or raises 409 for an illegal move.

    The payment is locked (payment_lock), or expected_status is its status as
    last read and the save is a compare-and-set that raises PaymentRowMoved.
    """
    before = payment.status
    if not transition_allowed(before, new_status):
        raise InvalidStateTransition(
            f"A payment in status '{before}' cannot become '{new_status}'.",
            status=before,
            allowed=ALLOWED_TRANSITIONS.get(before, ()),
        )
    payment.status = new_status
    payment_save_fields(payment, fields=["status", *(update_fields or [])], expected_status=expected_status)
    payment_event_record(
        payment=payment,
        type=event_type,
        actor=actor,
        status_before=before,
        status_after=new_status,
        data=data,
        refund=refund,
    )
    return payment


def payment_create(
    *,
    client: ApiClient,
    data: PaymentInput,
    actor: str,
    status: str = PaymentStatus.PENDING,
    card: CardSummary | None = None,
) -> Payment:
    """Records a new payment and its `created` event. A payment charged at once
    is created `processing`: its first event carries that status, and the
    separate `processing` step (a lock, an update, an event) is skipped."""
    public_id = data.public_id or _generate_public_id()
    try:
        with transaction.atomic():
            payment = Payment(
                uuid=data.uuid or uuid_lib.uuid4(),
                public_id=public_id,
                client=client,
                order_id=data.order_id,
                amount_minor=data.amount_minor,
                currency=data.currency,
                description=data.description,
                email=data.email,
                metadata=data.metadata,
                # A PSP token (pm_… or a legacy tok_…), never card data.
                payment_method_id=data.payment_method_id or data.token,
                capture_method=data.capture_method,
                return_url=data.return_url,
                confirmation_method=ConfirmationMethod.SERVER if data.confirm else ConfirmationMethod.CLIENT,
                success_url=data.success_url,
                cancel_url=data.cancel_url,
                expires_at=timezone.now() + timedelta(seconds=data.expires_in) if data.expires_in else None,
                status=status,
            )
            payment_card_summary_apply(payment, card)  # the PSP's summary of a tokenized card
            payment.save(force_insert=True)
            payment_event_record(
                payment=payment,
                type=EventType.CREATED,
                actor=actor,
                data={"amount_minor": data.amount_minor, "currency": data.currency},
            )
    except IntegrityError as exc:
        earlier = Payment.objects.filter(client=client, uuid=data.uuid).first() if data.uuid else None
        if earlier is not None:
            raise PaymentAlreadyRecorded(earlier) from exc
        raise Conflict(
            f"A payment with payment_id '{public_id}' already exists.",
            code="duplicate_payment_id",
            param="payment_id",
        ) from exc
    payment_refunds_known_empty(payment)
    return payment


def payment_refunds_known_empty(payment: Payment) -> None:
    """A payment just created has no refunds: say so to its in-memory refunds
    relation, so rendering it does not query for them."""
    payment._prefetched_objects_cache = {"refunds": Refund.objects.none()}


def payment_card_summary_apply(payment: Payment, card) -> None:
    if card is None:
        return
    payment.card_brand = card.brand or payment.card_brand
    payment.card_last4 = card.last4 or payment.card_last4
    payment.card_exp_month = card.exp_month or payment.card_exp_month
    payment.card_exp_year = card.exp_year or payment.card_exp_year
    payment.card_fingerprint = card.fingerprint or payment.card_fingerprint


def payment_charge_is_ours(*, payment: Payment, result) -> bool:
    """Whether a PaymentIntent, as the PSP has it (a ChargeResult), is this
    payment's: its metadata names the payment's uuid, and its amount and
    currency are the payment's. What a webhook body or an operator says is
    never enough to link one."""
    return (
        result.metadata.get("gateway_payment_uuid") == str(payment.uuid)
        and result.amount_minor == payment.amount_minor
        and result.currency == payment.currency
    )


def payment_link_payment_intent(*, payment: Payment, result) -> Payment | None:
    """Records the PaymentIntent of a payment whose charge answer was lost (a
    webhook found it by our metadata), once the PSP's own copy shows it is this
    payment's (payment_charge_is_ours); None when it is not. A payment that has
    one keeps it."""
    if payment.stripe_payment_intent_id:
        return payment
    if not payment_charge_is_ours(payment=payment, result=result):
        return None
    Payment.objects.filter(pk=payment.pk, stripe_payment_intent_id="").update(
        stripe_payment_intent_id=result.payment_intent_id, updated_at=timezone.now()
    )
    payment.refresh_from_db(fields=["stripe_payment_intent_id"])
    return payment


def payment_park_for_review(*, payment: Payment, reason: str, actor: str) -> Payment:
    """Leaves the payment as it is and asks an operator to decide (the admin's
    "needs review" filter, /metrics' gateway_payments_needing_review). Recorded
    in the timeline once per reason."""
    with payment_locked(payment) as payment:
        if payment.review_reason == reason[:200]:
            return payment
        payment.review_reason = reason[:200]
        payment.save(update_fields=["review_reason", "updated_at"])
        payment_event_record(
            payment=payment,
            type=EventType.REVIEW_REQUIRED,
            actor=actor,
            status_before=payment.status,
            data={"reason": payment.review_reason},
        )
    return payment
