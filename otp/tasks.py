"""Celery tasks of the OTP app."""

from __future__ import annotations

import logging

from celery import shared_task

from otp.delivery import OtpDeliveryError

logger = logging.getLogger("otp")


@shared_task(bind=True, max_retries=5, acks_late=True)
def otp_send_task(self, payment_pk: int) -> bool:
    """Makes and sends a code. A failed hand-over (SMTP down) is retried with
    backoff; the payment stays in requires_otp meanwhile. Each try makes a new
    code: the previous one never reached the payer."""
    from otp.services import otp_send
    from payments.models import Payment

    payment = Payment.objects.select_related("client").filter(pk=payment_pk).first()
    if payment is None:
        return False
    try:
        otp_send(payment=payment)
    except OtpDeliveryError as exc:
        logger.warning(
            "OTP delivery for payment %s failed (try %s of %s): %s; retrying",
            payment.public_id,
            self.request.retries + 1,
            self.max_retries + 1,
            exc,
        )
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from None
    return True


@shared_task
def otp_expire_payments_task() -> int | None:
    """Celery beat: cancels payments that waited for a code too long. None when
    another run holds the lock (gateway.core.periodic)."""
    from gateway.core.periodic import periodic_run_lock
    from otp.services import otp_expire_payments

    with periodic_run_lock("otp-expire-payments", ttl_seconds=120) as held:
        return otp_expire_payments() if held else None
