"""Statuses and event types, with the one table of allowed status moves."""

from __future__ import annotations

from django.db import models


class PaymentStatus(models.TextChoices):
    PENDING = "pending"
    REQUIRES_OTP = "requires_otp"
    # Created with `confirm: false`: waits for the payer's card (the hosted page, Stripe.js).
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure
    PROCESSING = "processing"  # at the PSP, or outcome unknown until reconciled
    REQUIRES_CAPTURE = "requires_capture"  # authorized (capture_method=manual), not yet captured
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


_S = PaymentStatus

# The only place that allows a status move. A payment in a state not listed
# as a key cannot move at all (failed, canceled and refunded are final).
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    _S.PENDING: frozenset(
        {_S.REQUIRES_OTP, _S.REQUIRES_ACTION, _S.PROCESSING, _S.SUCCEEDED, _S.FAILED, _S.CANCELED}
    ),
    _S.REQUIRES_OTP: frozenset({_S.PROCESSING, _S.CANCELED}),
    # A payment confirmed by the payer (`confirm: false`): a declined card or a
    # failed 3-D Secure brings it back here, and the payer may try another card.
    _S.REQUIRES_PAYMENT_METHOD: frozenset(
        {_S.PROCESSING, _S.REQUIRES_ACTION, _S.REQUIRES_CAPTURE, _S.SUCCEEDED, _S.CANCELED}
    ),
    _S.REQUIRES_ACTION: frozenset(
        {
            _S.PROCESSING,
            _S.REQUIRES_PAYMENT_METHOD,
            _S.REQUIRES_CAPTURE,
            _S.SUCCEEDED,
            _S.FAILED,
            _S.CANCELED,
        }
    ),
    _S.PROCESSING: frozenset(
        {
            _S.REQUIRES_PAYMENT_METHOD,
            _S.REQUIRES_ACTION,
            _S.REQUIRES_CAPTURE,
            _S.SUCCEEDED,
            _S.FAILED,
            _S.CANCELED,
        }
    ),
    _S.REQUIRES_CAPTURE: frozenset({_S.SUCCEEDED, _S.CANCELED}),
    _S.SUCCEEDED: frozenset({_S.PARTIALLY_REFUNDED, _S.REFUNDED}),
    _S.PARTIALLY_REFUNDED: frozenset({_S.PARTIALLY_REFUNDED, _S.REFUNDED}),
}

REFUNDABLE_STATUSES = frozenset({_S.SUCCEEDED, _S.PARTIALLY_REFUNDED})


def transition_allowed(current: str, new: str) -> bool:
    return new in ALLOWED_TRANSITIONS.get(current, frozenset())


class ConfirmationMethod(models.TextChoices):
    SERVER = "server"  # the merchant's request sends the payment method; the gateway confirms
    CLIENT = "client"  # `confirm: false`: the payer's browser gives the card (hosted page, Stripe.js)


# Statuses a payment with `expires_in` is canceled from once it expires: it
# waits for someone (the payer's card, a code, 3-D Secure). Not `processing`
# (the PSP is deciding) nor `requires_capture` (authorized: the merchant's call).
EXPIRABLE_STATUSES = frozenset({_S.PENDING, _S.REQUIRES_OTP, _S.REQUIRES_PAYMENT_METHOD, _S.REQUIRES_ACTION})


class RefundStatus(models.TextChoices):
    PENDING = "pending"  # sent to the PSP, or outcome unknown: the amount stays reserved
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundReason(models.TextChoices):
    """Stripe's refund reasons; anything else is kept as `other` plus the text."""

    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    OTHER = "other"


class EventType(models.TextChoices):
    CREATED = "created"
    REQUIRES_OTP = "requires_otp"
    OTP_SENT = "otp_sent"
    OTP_VERIFIED = "otp_verified"
    OTP_FAILED = "otp_failed"
    OTP_LOCKED = "otp_locked"
    OTP_EXPIRED = "otp_expired"
    PROCESSING = "processing"
    CHARGE_SUCCEEDED = "charge_succeeded"
    CHARGE_FAILED = "charge_failed"
    CHARGE_UNKNOWN = "charge_unknown"
    REQUIRES_ACTION = "requires_action"
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    ATTEMPT_FAILED = "attempt_failed"  # the payer's card was declined; the payment stays open
    CANCELED = "canceled"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUND_CREATED = "refund_created"
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    STATUS_SYNCED = "status_synced"
    DISPUTE_CREATED = "dispute_created"
    REVIEW_REQUIRED = "review_required"
    REVIEW_RESOLVED = "review_resolved"
