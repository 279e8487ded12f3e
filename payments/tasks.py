"""Celery tasks of the payments app. Each takes ids, re-reads the rows and calls a service."""

from __future__ import annotations

from celery import shared_task

from payments.enums import PaymentStatus
from payments.models import Payment


@shared_task(acks_late=True)
def payment_charge_task(payment_pk: int) -> str:
    """Charges a payment queued by `async: true`. Safe to run twice: a payment
    that is no longer processing is left alone, and the PSP call carries the
    payment's own idempotency key. Through reconciliation's one path, so that a
    task run after the PSP's key window (a worker down for a day) searches for
    the charge instead of sending it again blindly."""
    from gateway.core.errors import GatewayError
    from payments.services.reconcile import payment_reconcile

    payment = Payment.objects.get(pk=payment_pk)
    if payment.status != PaymentStatus.PROCESSING or payment.stripe_payment_intent_id:
        return payment.status
    try:
        return payment_reconcile(payment=payment, actor="system:async").status
    except GatewayError:
        # The decline is recorded on the payment; the client reads it from /status.
        return Payment.objects.get(pk=payment_pk).status


@shared_task
def payments_expire_task() -> int | None:
    """Celery beat: cancels payments past their expires_at that still wait (a
    card, a code, 3-D Secure). None when another run holds the lock."""
    from gateway.core.periodic import periodic_run_lock
    from payments.services.expiry import payments_expire_due

    with periodic_run_lock("payments-expire", ttl_seconds=120) as held:
        return payments_expire_due() if held else None


@shared_task
def reconcile_stuck_task() -> dict | None:
    """Celery beat: payments.services.reconcile.reconcile_stuck, unless another
    run holds the lock (gateway.core.periodic); then None."""
    from gateway.core.periodic import periodic_run_lock
    from payments.services.reconcile import reconcile_stuck

    with periodic_run_lock("stripe-reconcile-stuck", ttl_seconds=600) as held:
        return reconcile_stuck() if held else None
