"""One-time codes that hold a payment until the payer proves control of their e-mail.

The code is made in the Celery task that sends it, so it never travels through
the broker, a response or a log: it exists in the worker's memory, in the
e-mail, and as an HMAC in the cache. It is single use, compared in constant
time, dies after OTP_MAX_ATTEMPTS wrong tries, and a wrong code never fails
the payment: only expiry of the whole payment cancels it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.core.errors import (
    Conflict,
    GatewayError,
    InvalidRequest,
    InvalidStateTransition,
    RateLimited,
    ServiceUnavailable,
)
from gateway.core.metrics import OTP_EVENTS
from otp import store
from otp.delivery import OtpMessage, get_otp_sender, mask_email
from payments.enums import EventType, PaymentStatus
from payments.models import Payment
from payments.money import format_money
from payments.services.charges import payment_cancel, payment_charge
from payments.services.events import payment_event_record
from payments.services.payments import PaymentOutcome, payment_locked
from payments.services.process import payment_resume

logger = logging.getLogger("otp")


class OtpInvalid(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "otp_invalid"
    default_detail = "The code is not correct."


class OtpLocked(RateLimited):
    default_code = "otp_locked"
    default_detail = "Too many wrong codes: this code no longer works. Request a new one."


class OtpExpired(GatewayError):
    status_code = 410
    error_type = "invalid_request_error"
    default_code = "otp_expired"
    default_detail = "There is no valid code for this payment (it expired or was used). Request a new one."


@dataclass(frozen=True)
class OtpSendAccepted:
    expires_in: int
    resend_available_in: int


def otp_send_after_commit(*, payment: Payment) -> OtpSendAccepted:
    """Checks the resend limits, then has the code made and sent after commit."""
    if payment.status != PaymentStatus.REQUIRES_OTP:
        raise InvalidStateTransition(
            f"A payment in status '{payment.status}' is not waiting for a code.",
            status=payment.status,
        )
    if not payment.email:
        raise InvalidRequest(
            "The payment has no e-mail address to send a code to.", param="email", code="email_required"
        )
    allowed, retry_after = store.send_allowed(payment_uuid=payment.uuid)
    if not allowed:
        raise RateLimited(
            f"A code was sent recently; ask again in {retry_after} s.",
            code="otp_resend_too_soon",
            headers={"Retry-After": str(retry_after)},
            extra={"retry_after": retry_after},
        )
    transaction.on_commit(lambda: _enqueue_send(payment.pk), robust=True)
    return OtpSendAccepted(
        expires_in=settings.OTP_TTL_SECONDS, resend_available_in=settings.OTP_RESEND_COOLDOWN_SECONDS
    )


def _enqueue_send(payment_pk: int) -> None:
    from otp.tasks import otp_send_task

    otp_send_task.delay(payment_pk)


def otp_send(*, payment: Payment) -> None:
    """Makes a new code, stores its HMAC, and hands it to the sender. Raises
    OtpDeliveryError when the sender cannot take it (the task retries)."""
    if payment.status != PaymentStatus.REQUIRES_OTP:
        return
    code = f"{secrets.randbelow(10**6):06d}"
    store.code_store(payment_uuid=payment.uuid, code=code)
    sender = get_otp_sender()
    sender.send(
        OtpMessage(
            to=payment.email,
            code=code,
            merchant=payment.client.name,
            order_id=payment.order_id,
            amount=format_money(payment.amount_minor, payment.currency),
            expires_in_minutes=max(1, settings.OTP_TTL_SECONDS // 60),
        )
    )
    with transaction.atomic():
        payment_event_record(
            payment=payment,
            type=EventType.OTP_SENT,
            actor="system:otp",
            status_before=payment.status,
            data={"channel": sender.channel},
        )
    OTP_EVENTS.labels(event="sent").inc()
    logger.info("OTP sent for payment %s to %s", payment.public_id, mask_email(payment.email))


def otp_verify(
    *, payment: Payment, code: str, client_id: int, actor: str, operation: str = ""
) -> PaymentOutcome:
    """Checks a code; on success uses it up and charges the payment through the
    same service as every payment.

    `operation` (the request's Idempotency-Key operation) is recorded with the
    verification: a retry of a request that verified the code and then failed
    (a 5xx, a dead worker) goes on with the charge, as a payment's own retry
    does, instead of being told the code is used up while the payment is
    charged anyway."""
    if operation and payment.events.filter(type=EventType.OTP_VERIFIED, data__operation=operation).exists():
        if payment.status == PaymentStatus.REQUIRES_OTP:
            return payment_charge(payment=payment, actor=actor)
        return payment_resume(payment=payment, actor=actor)
    if payment.status != PaymentStatus.REQUIRES_OTP:
        raise InvalidStateTransition(
            f"A payment in status '{payment.status}' is not waiting for a code.",
            status=payment.status,
        )
    if payment.expires_at is not None and payment.expires_at <= timezone.now():
        # Its expires_in ran out: canceled by the next expiry sweep, never charged now.
        raise Conflict("The payment has expired.", code="payment_expired", extra={"status": payment.status})
    if not isinstance(code, str) or not code.isdigit() or len(code) != 6:
        raise InvalidRequest("The code has 6 digits.", code="invalid_otp_format", param="otp")
    stored = store.code_digest_get(payment_uuid=payment.uuid)
    if stored is None:
        raise OtpExpired()
    attempts = store.attempt_count_increment(payment_uuid=payment.uuid)
    max_attempts = settings.OTP_MAX_ATTEMPTS
    if attempts > max_attempts:
        store.code_consume(payment_uuid=payment.uuid)
        raise OtpLocked(headers={"Retry-After": str(settings.OTP_RESEND_COOLDOWN_SECONDS)})
    if not hmac.compare_digest(stored, store.code_digest(code)):
        left = max_attempts - attempts
        OTP_EVENTS.labels(event="failed").inc()
        if left == 0:
            OTP_EVENTS.labels(event="locked").inc()
        with transaction.atomic():
            payment_event_record(
                payment=payment,
                type=EventType.OTP_FAILED,
                actor=actor,
                status_before=payment.status,
                data={"attempts_left": left},
            )
            if left == 0:
                payment_event_record(
                    payment=payment, type=EventType.OTP_LOCKED, actor=actor, status_before=payment.status
                )
        if left == 0:
            store.code_consume(payment_uuid=payment.uuid)
            raise OtpLocked(
                headers={"Retry-After": str(settings.OTP_RESEND_COOLDOWN_SECONDS)}, extra={"attempts_left": 0}
            )
        raise OtpInvalid(extra={"attempts_left": left})
    if not store.code_consume(payment_uuid=payment.uuid):
        # Another request used this very code a moment ago: it is single use.
        raise OtpExpired()
    with payment_locked(payment) as locked:
        payment_event_record(
            payment=locked,
            type=EventType.OTP_VERIFIED,
            actor=actor,
            status_before=locked.status,
            data={"operation": operation} if operation else None,
        )
    return payment_charge(payment=payment, actor=actor)


def otp_expire_payments(*, now=None) -> int:
    """Cancels payments still waiting for a code after OTP_PAYMENT_EXPIRY_MINUTES."""
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.OTP_PAYMENT_EXPIRY_MINUTES)
    expired = 0
    for payment in Payment.objects.filter(status=PaymentStatus.REQUIRES_OTP, created_at__lt=cutoff):
        with payment_locked(payment) as locked:
            if locked.status != PaymentStatus.REQUIRES_OTP:
                continue
            payment_event_record(
                payment=locked, type=EventType.OTP_EXPIRED, actor="system:otp", status_before=locked.status
            )
            payment_cancel(payment=locked, actor="system:otp", reason="otp expired")
        expired += 1
        try:
            store.code_consume(payment_uuid=payment.uuid)  # the code dies with the payment
        except ServiceUnavailable:
            pass  # it expires on its own TTL; the canceled payment no longer accepts it anyway
    return expired
