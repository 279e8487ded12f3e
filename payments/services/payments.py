"""Create, charge, settle, cancel and sync payments.

Every status change goes through payment_transition(), under a row lock, and
is checked against the one transition table in payments.enums. PSP calls are
made outside database transactions, so no lock is held while the network is
slow; the payment is committed as `processing` first, so a crash mid-call
leaves a row that reconciliation can settle.
"""

from __future__ import annotations

import secrets
import uuid as uuid_lib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.errors import CardDeclined, Conflict, GatewayError, InvalidRequest, InvalidStateTransition
from payments.cards import card_validate
from payments.enums import ALLOWED_TRANSITIONS, EventType, PaymentStatus, transition_allowed
from payments.models import ApiClient, Payment, Refund
from payments.providers import (
    CardInput,
    CardSummary,
    ChargeRequest,
    ChargeResult,
    PspOutcomeUnknown,
    get_provider,
)
from payments.services.events import payment_event_record
from payments.signals import payment_held_for_otp, psp_state_applied_after_commit


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


class _RowMoved(Exception):
    """A compare-and-set save found the payment no longer in the status it expected."""


def _payment_save(payment: Payment, *, fields: list[str], expected_status: str | None) -> None:
    """Saves the fields; with expected_status, only if the row is still in it
    (one UPDATE … WHERE status=…, which also takes the row lock)."""
    if expected_status is None:
        payment.save(update_fields=[*fields, "updated_at"])
        return
    payment.updated_at = timezone.now()
    values = {name: getattr(payment, name) for name in {*fields, "updated_at"}}
    if not Payment.objects.filter(pk=payment.pk, status=expected_status).update(**values):
        raise _RowMoved()


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
    last read and the save is a compare-and-set that raises _RowMoved.
    """
    before = payment.status
    if not transition_allowed(before, new_status):
        raise InvalidStateTransition(
            f"A payment in status '{before}' cannot become '{new_status}'.",
            status=before,
            allowed=ALLOWED_TRANSITIONS.get(before, ()),
        )
    payment.status = new_status
    _payment_save(payment, fields=["status", *(update_fields or [])], expected_status=expected_status)
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
                status=status,
            )
            _apply_card(payment, card)  # the PSP's summary of a tokenized card
            payment.save(force_insert=True)
            payment_event_record(
                payment=payment,
                type=EventType.CREATED,
                actor=actor,
                data={"amount_minor": data.amount_minor, "currency": data.currency},
            )
    except IntegrityError as exc:
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


def raw_card_data_ensure_accepted() -> None:
    """The one check of ACCEPT_RAW_CARD_DATA, for every endpoint that takes a raw
    card (payments, validate-card): a deployment that refuses raw cards refuses
    them everywhere."""
    if not settings.ACCEPT_RAW_CARD_DATA:
        raise InvalidRequest(
            "Raw card data is not accepted here; send a PSP token (payment_method pm_… or token tok_…).",
            code="raw_card_data_not_accepted",
            param="card",
        )


def _card_input(card: dict) -> CardInput:
    check = card_validate(
        number=card.get("number"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        cvc=card.get("cvc"),
    )
    if not check.valid:
        first = check.errors[0]
        raise InvalidRequest(
            first.message,
            code=first.code,
            param=f"card.{first.field}",
            extra={"errors": [e.__dict__ for e in check.errors]},
        )
    return CardInput(
        number=check.number,
        exp_month=check.exp_month,
        exp_year=check.exp_year,
        cvc=card["cvc"],
        name=card.get("name") or "",
    )


def payment_needs_otp(*, amount_minor: int, currency: str, require_otp: bool = False) -> bool:
    """Whether a new payment is held for a one-time code: asked for (`require_otp`),
    or above OTP_REQUIRED_ABOVE, per currency in minor units ("usd:100000,eur:100000"),
    with "*" for every currency not listed.

    Fails closed: once thresholds are set, a payment in a currency they do not
    cover (no entry, no "*") is held for a code, whatever its amount; amounts in
    minor units cannot be compared across currencies, so no other threshold
    stands in. With no thresholds at all, only `require_otp` holds a payment."""
    if require_otp:
        return True
    thresholds = settings.OTP_REQUIRED_ABOVE
    if not thresholds:
        return False
    limit = thresholds.get(currency, thresholds.get("*"))
    return limit is None or amount_minor > limit


def payment_process(
    *, client: ApiClient, data: PaymentInput, actor: str, run_async: bool = False
) -> PaymentOutcome:
    """The one path of every new payment: record it, tokenize a raw card, then
    hold it for OTP, queue it (async) or charge it now. A retry of a request
    that ended in a 5xx (data.resume) goes on with the payment the first
    attempt recorded, never a second one."""
    needs_otp = payment_needs_otp(
        amount_minor=data.amount_minor, currency=data.currency, require_otp=data.require_otp
    )
    if needs_otp and not data.email:
        raise InvalidRequest(
            "An e-mail address is needed to send the payer a one-time code.",
            code="email_required",
            param="email",
        )
    card = None
    if data.card is not None:
        raw_card_data_ensure_accepted()
        card = _card_input(data.card)  # validated locally before anything is recorded

    if data.resume and data.uuid is not None:
        earlier = Payment.objects.filter(client=client, uuid=data.uuid).first()
        if earlier is not None:
            return _payment_resume(
                payment=earlier,
                actor=actor,
                needs_otp=needs_otp,
                run_async=run_async,
                return_url=data.return_url,
            )

    method = None
    if card is not None:
        # Tokenized first: the card goes to the PSP and nowhere else, and if the
        # PSP is unreachable nothing is recorded, so the client can simply retry.
        method = get_provider().tokenize_card(card=card)
        data = replace(data, payment_method_id=method.payment_method_id, card=None)
    charge_now = not needs_otp and not run_async
    payment = payment_create(
        client=client,
        data=data,
        actor=actor,
        status=PaymentStatus.PROCESSING if charge_now else PaymentStatus.PENDING,
        card=method.card if method is not None else None,
    )
    return _payment_advance(
        payment=payment, actor=actor, needs_otp=needs_otp, run_async=run_async, return_url=data.return_url
    )


def _payment_advance(
    *, payment: Payment, actor: str, needs_otp: bool, run_async: bool, return_url: str
) -> PaymentOutcome:
    if payment.status == PaymentStatus.PENDING and needs_otp:
        with payment_locked(payment) as payment:
            payment = payment_transition(
                payment=payment,
                new_status=PaymentStatus.REQUIRES_OTP,
                event_type=EventType.REQUIRES_OTP,
                actor=actor,
            )
            # The OTP app makes and sends the first code, after commit.
            payment_held_for_otp.send(sender=Payment, payment=payment)
        return PaymentOutcome(payment=payment)
    if payment.status == PaymentStatus.PENDING and run_async:
        return PaymentOutcome(payment=payment_queue(payment=payment, actor=actor))
    return payment_charge(payment=payment, actor=actor, return_url=return_url)


def _payment_resume(
    *, payment: Payment, actor: str, needs_otp: bool, run_async: bool, return_url: str
) -> PaymentOutcome:
    """Goes on from wherever an earlier attempt of the same request stopped.

    Still `pending`: the step after recording it. `processing`: its charge is
    sent again with the same PSP idempotency key (the PSP answers with the first
    charge if there was one), or read from the PSP once its PaymentIntent is
    known. Anything else is the outcome, answered as the first attempt would
    have; a failed payment as its decline."""
    if payment.status == PaymentStatus.PENDING:
        return _payment_advance(
            payment=payment, actor=actor, needs_otp=needs_otp, run_async=run_async, return_url=return_url
        )
    if payment.status == PaymentStatus.PROCESSING and not payment.stripe_payment_intent_id:
        return payment_charge(payment=payment, actor=actor, return_url=return_url)
    if payment.status in RECONCILABLE_STATUSES and payment.stripe_payment_intent_id:
        payment = payment_sync_from_psp(payment=payment, actor=actor)
    if payment.status == PaymentStatus.FAILED:
        raise CardDeclined(
            payment.failure_message or "The card was declined.",
            code=payment.failure_code or "card_declined",
            extra={"decline_code": payment.failure_code, "payment_id": payment.public_id},
        )
    return PaymentOutcome(payment=payment)


def _apply_card(payment: Payment, card) -> None:
    if card is None:
        return
    payment.card_brand = card.brand or payment.card_brand
    payment.card_last4 = card.last4 or payment.card_last4
    payment.card_exp_month = card.exp_month or payment.card_exp_month
    payment.card_exp_year = card.exp_year or payment.card_exp_year
    payment.card_fingerprint = card.fingerprint or payment.card_fingerprint


def payment_queue(*, payment: Payment, actor: str) -> Payment:
    """Marks the payment processing and charges it in a Celery task after commit."""
    from payments.tasks import payment_charge_task

    with payment_locked(payment) as payment:
        payment = payment_transition(
            payment=payment,
            new_status=PaymentStatus.PROCESSING,
            event_type=EventType.PROCESSING,
            actor=actor,
            data={"async": True},
        )
        transaction.on_commit(lambda: payment_charge_task.delay(payment.pk))
    return payment


def payment_charge(*, payment: Payment, actor: str, return_url: str = "") -> PaymentOutcome:
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
        return_url=return_url,
        capture_method=payment.capture_method,
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
        # The PSP answered: the charge did not happen (decline, invalid request,
        # rejected key). Record why, then tell the client.
        payment = payment_fail(
            payment=payment, code=exc.extra.get("decline_code") or exc.code, message=exc.message, actor=actor
        )
        exc.extra.setdefault("payment_id", payment.public_id)
        raise
    payment = payment_apply_charge_result(payment=payment, result=result, actor=actor)
    return PaymentOutcome(payment=payment, client_secret=result.client_secret, receipt_url=result.receipt_url)


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
    "succeeded": (PaymentStatus.SUCCEEDED, EventType.CHARGE_SUCCEEDED),
    "requires_action": (PaymentStatus.REQUIRES_ACTION, EventType.REQUIRES_ACTION),
    "requires_capture": (PaymentStatus.REQUIRES_CAPTURE, EventType.AUTHORIZED),
    "failed": (PaymentStatus.FAILED, EventType.CHARGE_FAILED),
    "canceled": (PaymentStatus.CANCELED, EventType.CANCELED),
}


def payment_apply_charge_result(
    *, payment: Payment, result: ChargeResult, actor: str, event_type: str | None = None
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
            return _settle(payment, result, actor, event_type, expected_status=payment.status)
        except _RowMoved:
            return _settle(payment_lock(payment=payment), result, actor, event_type, expected_status=None)


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
    payment: Payment, result: ChargeResult, actor: str, event_type: str | None, *, expected_status: str | None
) -> Payment:
    payment.stripe_payment_intent_id = result.payment_intent_id or payment.stripe_payment_intent_id
    payment.stripe_charge_id = result.charge_id or payment.stripe_charge_id
    payment.payment_method_id = result.payment_method_id or payment.payment_method_id
    _apply_card(payment, result.card)
    target = _RESULT_TO_STATUS.get(result.status)
    if target is None or payment.status == target[0] or not transition_allowed(payment.status, target[0]):
        _payment_save(payment, fields=_SETTLE_FIELDS, expected_status=expected_status)
        return payment
    new_status, default_event = target
    if new_status == PaymentStatus.SUCCEEDED:
        payment.captured_minor = result.amount_received_minor or payment.amount_minor
        payment.failure_code = payment.failure_message = ""
    if new_status == PaymentStatus.REQUIRES_ACTION:
        payment.next_action = result.next_action
    else:
        payment.next_action = None
    if new_status == PaymentStatus.FAILED:
        payment.failure_code = (result.decline_code or result.failure_code or "payment_failed")[:100]
        payment.failure_message = result.failure_message[:500]
    return payment_transition(
        payment=payment,
        new_status=new_status,
        event_type=event_type or default_event,
        actor=actor,
        data={"payment_intent": result.payment_intent_id},
        update_fields=[*_SETTLE_FIELDS, "captured_minor", "next_action", "failure_code", "failure_message"],
        expected_status=expected_status,
    )


_CANCELABLE_LOCALLY = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_OTP)
_CANCELABLE_AT_PSP = (PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE)


def payment_cancel(*, payment: Payment, actor: str, reason: str = "") -> Payment:
    """Cancels a payment that has not been captured: locally when nothing was
    sent to the PSP, else by canceling its PaymentIntent first."""
    if payment.status in _CANCELABLE_AT_PSP and payment.stripe_payment_intent_id:
        result = get_provider().cancel(
            payment_intent_id=payment.stripe_payment_intent_id, idempotency_key=f"gw-cancel-{payment.uuid}"
        )
        return payment_apply_charge_result(payment=payment, result=result, actor=actor)
    with payment_locked(payment) as payment:
        if payment.status not in _CANCELABLE_LOCALLY:
            raise InvalidStateTransition(
                f"A payment in status '{payment.status}' cannot be canceled.",
                status=payment.status,
            )
        return payment_transition(
            payment=payment,
            new_status=PaymentStatus.CANCELED,
            event_type=EventType.CANCELED,
            actor=actor,
            data={"reason": reason},
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
        idempotency_key=f"gw-capture-{payment.uuid}",
    )
    return payment_apply_charge_result(
        payment=payment, result=result, actor=actor, event_type=EventType.CAPTURED
    )


def payment_confirm(*, payment: Payment, actor: str) -> Payment:
    """After the customer authenticated (3-D Secure), settles the payment from
    the PSP. Still unauthenticated is a 409; a failed authentication a 402."""
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


def payment_link_payment_intent(*, payment: Payment, payment_intent_id: str) -> Payment:
    """Records the PaymentIntent of a payment whose charge answer was lost (a
    webhook found it by our metadata). A payment that has one keeps it."""
    if not payment.stripe_payment_intent_id:
        Payment.objects.filter(pk=payment.pk, stripe_payment_intent_id="").update(
            stripe_payment_intent_id=payment_intent_id, updated_at=timezone.now()
        )
        payment.refresh_from_db(fields=["stripe_payment_intent_id"])
    return payment


def payment_mirror_link(*, payment: Payment, djstripe_payment_intent) -> None:
    """Links the payment to dj-stripe's copy of its PaymentIntent (not a change of state)."""
    Payment.objects.filter(pk=payment.pk).update(djstripe_payment_intent=djstripe_payment_intent)


def payment_sync_from_psp(*, payment: Payment, actor: str) -> Payment:
    """Re-reads the payment's PaymentIntent at the PSP and settles from it."""
    if not payment.stripe_payment_intent_id:
        return payment
    result = get_provider().retrieve_charge(payment_intent_id=payment.stripe_payment_intent_id)
    return payment_apply_charge_result(
        payment=payment, result=result, actor=actor, event_type=EventType.STATUS_SYNCED
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
    if len(found) == 1:
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


def payment_review_resolve(*, payment: Payment, payment_intent_id: str, actor: str) -> Payment:
    """An operator's decision on a parked payment: settle it from the
    PaymentIntent they found at the PSP, or (no id) record that it was never
    charged, which fails it."""
    if not payment.review_reason:
        raise Conflict("This payment does not need a review.", code="no_review_needed")
    if payment_intent_id:
        result = get_provider().retrieve_charge(payment_intent_id=payment_intent_id)
        if result.payment_intent_id != payment_intent_id:
            raise InvalidRequest("The PSP answered with another PaymentIntent.", param="payment_intent")
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
