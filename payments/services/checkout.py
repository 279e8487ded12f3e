"""Client-side confirmation: a payment created with `confirm: false` waits
(requires_payment_method) for the payer's card, which the payer's browser gives
the PSP directly (the hosted page at /pay/{token}, or the merchant's own
Stripe.js with the client secret). The card never reaches the gateway: only
the PSP's token for it (tok_… or pm_…).

The payment link is a signed, expiring token naming the payment; its
lifetime is the payment's `expires_at`, or PAYMENT_LINK_SECONDS from creation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils import timezone

from gateway.core.errors import CardDeclined, Conflict, GatewayError, InvalidStateTransition
from payments.enums import ConfirmationMethod, EventType, PaymentStatus
from payments.models import Payment
from payments.providers import ConfirmRequest, PspOutcomeUnknown, get_provider, psp_refused
from payments.services.charges import payment_apply_charge_result, payment_sync_from_psp
from payments.services.events import payment_event_record
from payments.services.payments import payment_locked

_LINK_SALT = "gateway.payments.link"
PAYER_ACTOR = "payer"
# Where the payer is sent once the payment needs nothing more from them.
PAID_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.PROCESSING})


def payment_link_expires_at(payment: Payment):
    default = payment.created_at + timedelta(seconds=settings.PAYMENT_LINK_SECONDS)
    return min(payment.expires_at, default) if payment.expires_at else default


def payment_link_token(payment: Payment) -> str:
    """The signed token of the payment's hosted page (HMAC under SECRET_KEY):
    the payment's uuid and the link's expiry. Nothing secret in it."""
    expires = int(payment_link_expires_at(payment).timestamp())
    return signing.dumps({"p": payment.uuid.hex, "e": expires}, salt=_LINK_SALT)


def payment_for_link(token: str) -> Payment | None:
    """The payment a link names, or None when the token is tampered with,
    expired, or names no payment created with `confirm: false`."""
    try:
        data = signing.loads(token, salt=_LINK_SALT)
    except signing.BadSignature:
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("e"), int)
        or data["e"] <= timezone.now().timestamp()
    ):
        return None
    return (
        Payment.objects.select_related("client")
        # A revoked merchant's links stop working with its keys.
        .filter(uuid=data.get("p"), confirmation_method=ConfirmationMethod.CLIENT, client__is_active=True)
        .first()
    )


@dataclass(frozen=True)
class Attempt:
    """What the payer's attempt came to: the payment, the client secret when
    the payer must authenticate (3-D Secure, in the browser), or the decline."""

    payment: Payment
    client_secret: str = ""
    error: GatewayError | None = None


def payment_confirm_with_card(*, payment: Payment, token: str = "", payment_method_id: str = "") -> Attempt:
    """Confirms the payment's PaymentIntent with the card the payer's browser
    tokenized at the PSP. A decline leaves the payment waiting for another card
    (an `attempt_failed` event); a PaymentIntent that can no longer be
    confirmed (it expired, or the payer already paid in another tab) is
    answered with the payment as the PSP's state makes it."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status in PAID_STATUSES:
        return Attempt(payment=payment)
    if payment.status != PaymentStatus.REQUIRES_PAYMENT_METHOD or not payment.stripe_payment_intent_id:
        raise InvalidStateTransition(
            f"A payment in status '{payment.status}' takes no card.", status=payment.status
        )
    if payment.expires_at is not None and payment.expires_at <= timezone.now():
        raise Conflict("The payment has expired.", code="payment_expired", extra={"status": payment.status})
    with _one_attempt_at_a_time(payment):
        return _confirm_with_card(payment=payment, token=token, payment_method_id=payment_method_id)


@contextlib.contextmanager
def _one_attempt_at_a_time(payment: Payment):
    """One card at a time per payment (a cache lock): the decline cap below is
    counted before the PSP call, so attempts sent together would all pass it."""
    key = f"pay-page:attempt:{payment.uuid}"
    if not cache.add(key, 1, timeout=settings.STRIPE_TIMEOUT_SECONDS * 2):
        raise Conflict(
            "Another card is being tried for this payment; wait for its answer.",
            code="attempt_in_progress",
            extra={"status": payment.status},
        )
    try:
        yield
    finally:
        cache.delete(key)


def _confirm_with_card(*, payment: Payment, token: str, payment_method_id: str) -> Attempt:
    declines = payment.events.filter(type=EventType.ATTEMPT_FAILED).count()
    if declines >= settings.PAYMENT_PAGE_MAX_DECLINES:
        raise Conflict(
            "Too many declined cards for this payment; the merchant must create a new one.",
            code="too_many_attempts",
            extra={"status": payment.status},
        )
    method = token or payment_method_id
    request = ConfirmRequest(
        payment_intent_id=payment.stripe_payment_intent_id,
        # One key per card: a retried submission of the same card is the same
        # confirmation at the PSP; another card after a decline is a new one.
        idempotency_key=f"gw-confirm-{payment.uuid}-{method}",
        token=token,
        payment_method_id=payment_method_id,
        return_url=payment.return_url,
    )
    try:
        result = get_provider().confirm(request=request)
    except PspOutcomeUnknown as exc:
        # The PSP may have charged: the webhook or reconciliation settles it. A
        # PaymentIntent is paid once at most: another card is refused by the PSP.
        return Attempt(payment=payment, error=exc)
    except CardDeclined as exc:
        return Attempt(payment=payment_attempt_failed(payment=payment, error=exc), error=exc)
    except GatewayError as exc:
        if not psp_refused(exc):
            raise
        # Not confirmable any more (canceled at expiry, or paid meanwhile): the PSP's state decides.
        return Attempt(payment=payment_sync_from_psp(payment=payment, actor=PAYER_ACTOR), error=exc)
    payment = payment_apply_charge_result(payment=payment, result=result, actor=PAYER_ACTOR)
    secret = result.client_secret if payment.status == PaymentStatus.REQUIRES_ACTION else ""
    return Attempt(payment=payment, client_secret=secret)


def payment_attempt_failed(*, payment: Payment, error: CardDeclined) -> Payment:
    """Records a declined card on a payment that stays open for another one."""
    with payment_locked(payment) as payment:
        if payment.status != PaymentStatus.REQUIRES_PAYMENT_METHOD:
            return payment
        payment.failure_code = (error.extra.get("decline_code") or error.code)[:100]
        payment.failure_message = error.message[:500]
        payment.save(update_fields=["failure_code", "failure_message", "updated_at"])
        payment_event_record(
            payment=payment,
            type=EventType.ATTEMPT_FAILED,
            actor=PAYER_ACTOR,
            status_before=payment.status,
            data={"failure_code": payment.failure_code},
        )
    return payment


def payment_complete_after_authentication(*, payment: Payment) -> Payment:
    """After 3-D Secure in the payer's browser: the payment as the PSP has it
    now. Only a payment waiting for authentication is read from the PSP, at
    most once every PAYMENT_PAGE_SYNC_SECONDS: the page needs no key, and the
    PSP's read limit is the whole platform's."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status == PaymentStatus.REQUIRES_ACTION and cache.add(
        f"pay-page:sync:{payment.uuid}", 1, timeout=settings.PAYMENT_PAGE_SYNC_SECONDS
    ):
        payment = payment_sync_from_psp(payment=payment, actor=PAYER_ACTOR)
    return payment
