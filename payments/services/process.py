"""The one path of every new payment: validate, record, hold for a code,
queue, or charge now; and a retry of a request that ended in a 5xx resumes the
payment its first attempt recorded.
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.db import transaction

from gateway.core.errors import CardDeclined, InvalidRequest, ServiceUnavailable
from payments.cards import card_validate
from payments.enums import EventType, PaymentStatus
from payments.models import ApiClient, Payment
from payments.providers import (
    CardInput,
    get_provider,
)
from payments.services.charges import (
    payment_charge,
    payment_past_psp_idempotency_window,
    payment_sync_from_psp,
)
from payments.services.payments import (
    PaymentAlreadyRecorded,
    PaymentInput,
    PaymentOutcome,
    payment_create,
    payment_locked,
    payment_transition,
)
from payments.services.reconcile import (
    RECONCILABLE_STATUSES,
    payment_reconcile,
)
from payments.signals import payment_held_for_otp


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
    if not data.confirm:
        _client_confirmation_ensure_possible(data=data, needs_otp=needs_otp)
        run_async = False  # creating an unconfirmed PaymentIntent takes no money: answered at once
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
            )

    method = None
    if card is not None:
        # Tokenized first: the card goes to the PSP and nowhere else, and if the
        # PSP is unreachable nothing is recorded, so the client can simply retry.
        method = get_provider().tokenize_card(card=card)
        data = replace(data, payment_method_id=method.payment_method_id, card=None)
    charge_now = not needs_otp and not run_async
    try:
        payment = payment_create(
            client=client,
            data=data,
            actor=actor,
            status=PaymentStatus.PROCESSING if charge_now else PaymentStatus.PENDING,
            card=method.card if method is not None else None,
        )
    except PaymentAlreadyRecorded as exc:
        # This request's lease ran out while it worked, and a retry with its key
        # took over and recorded the payment: the same payment, resumed.
        return _payment_resume(payment=exc.payment, actor=actor, needs_otp=needs_otp, run_async=run_async)
    return _payment_advance(payment=payment, actor=actor, needs_otp=needs_otp, run_async=run_async)


def _client_confirmation_ensure_possible(*, data: PaymentInput, needs_otp: bool) -> None:
    """`confirm: false`: the payer gives the card to the PSP (the hosted page or
    the merchant's own Stripe.js), so the request carries none; and the payer
    authenticates with the card's issuer (3-D Secure), not with our code."""
    if not settings.STRIPE_PUBLISHABLE_KEY:
        raise ServiceUnavailable(
            "Client-side confirmation is not configured here (STRIPE_PUBLISHABLE_KEY).",
            code="client_confirmation_unavailable",
        )
    if data.card is not None or data.payment_method_id or data.token:
        raise InvalidRequest(
            "With confirm: false the payer gives the card; send no payment_method, token or card.",
            code="payment_method_not_allowed",
            param="confirm",
        )
    if needs_otp:
        raise InvalidRequest(
            "A payment held for a one-time code is confirmed by the gateway; it cannot be "
            "created with confirm: false.",
            code="otp_with_client_confirmation",
            param="confirm",
        )


def _payment_advance(*, payment: Payment, actor: str, needs_otp: bool, run_async: bool) -> PaymentOutcome:
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
    return payment_charge(payment=payment, actor=actor)


def payment_resume(*, payment: Payment, actor: str) -> PaymentOutcome:
    """A retry of a request that started charging this payment and then failed
    (a 5xx, a dead worker): goes on from where it stopped, or answers its outcome."""
    return _payment_resume(payment=payment, actor=actor, needs_otp=False, run_async=False)


def _payment_resume(*, payment: Payment, actor: str, needs_otp: bool, run_async: bool) -> PaymentOutcome:
    """Goes on from wherever an earlier attempt of the same request stopped.

    Still `pending`: the step after recording it. `processing`: its charge is
    sent again with the same PSP idempotency key (the PSP answers with the first
    charge if there was one), or read from the PSP once its PaymentIntent is
    known. Anything else is the outcome, answered as the first attempt would
    have; a failed payment as its decline."""
    if payment.status == PaymentStatus.PENDING:
        return _payment_advance(payment=payment, actor=actor, needs_otp=needs_otp, run_async=run_async)
    if payment.status == PaymentStatus.PROCESSING and not payment.stripe_payment_intent_id:
        if payment_past_psp_idempotency_window(payment):
            # The PSP may have forgotten the key: find the PaymentIntent, never resend.
            payment = payment_reconcile(payment=payment, actor=actor)
            return PaymentOutcome(payment=payment)
        return payment_charge(payment=payment, actor=actor)
    if payment.status in RECONCILABLE_STATUSES and payment.stripe_payment_intent_id:
        payment = payment_sync_from_psp(payment=payment, actor=actor)
    if payment.status == PaymentStatus.FAILED:
        raise CardDeclined(
            payment.failure_message or "The card was declined.",
            code=payment.failure_code or "card_declined",
            extra={"decline_code": payment.failure_code, "payment_id": payment.public_id},
        )
    return PaymentOutcome(payment=payment)


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
