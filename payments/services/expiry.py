"""Payments that expire: `expires_in` on a payment that waits for someone (the
payer's card, a one-time code, 3-D Secure) cancels it once `expires_at` has
passed, with cancellation_reason `expired`. The sweep runs every
PAYMENT_EXPIRY_SWEEP_SECONDS (Celery beat; `manage.py run_periodic` under
`make run`)."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.utils import timezone

from gateway.core.errors import GatewayError, InvalidStateTransition
from payments.enums import EXPIRABLE_STATUSES, PaymentStatus
from payments.models import Payment
from payments.services.charges import CANCELED_EXPIRED, payment_cancel

logger = logging.getLogger("gateway.payments")
EXPIRY_RETRY_SECONDS = 60


def payment_expire(*, payment: Payment, actor: str = "system:expiry", now=None) -> Payment:
    """Cancels a payment whose `expires_at` has passed while it still waits
    (EXPIRABLE_STATUSES), with cancellation_reason `expired`. Safe to run twice
    and against any race: the status is re-read, a PaymentIntent is canceled at
    the PSP first, and a PaymentIntent the payer completed in time wins (the
    payment is settled from it instead)."""
    now = now or timezone.now()
    payment = Payment.objects.get(pk=payment.pk)
    if payment.expires_at is None or payment.expires_at > now or payment.status not in EXPIRABLE_STATUSES:
        return payment
    try:
        return payment_cancel(payment=payment, actor=actor, cancellation_reason=CANCELED_EXPIRED)
    except InvalidStateTransition:
        # Moved meanwhile (a code verified, the payer completed it in time): not expired.
        return Payment.objects.get(pk=payment.pk)


def payments_expire_due(*, now=None, limit: int = 200) -> int:
    """The expiry sweep: every payment past its `expires_at` still waiting.
    Returns how many it canceled. A payment the PSP would not cancel (it is
    unreachable, or refuses) is tried again after EXPIRY_RETRY_SECONDS, and the
    others due are not held up behind it."""
    now = now or timezone.now()
    due = Payment.objects.filter(expires_at__lte=now, status__in=EXPIRABLE_STATUSES).order_by("expires_at")
    canceled = tried = 0
    for pk in due.values_list("pk", flat=True)[: limit * 5]:
        if tried >= limit:
            break
        mark = f"expiry:failed:{pk}"
        retry_at = cache.get(mark)  # the clock's time (timezone.now), not the cache's
        if retry_at is not None and retry_at > now.timestamp():
            continue  # failed a moment ago
        tried += 1
        try:
            if payment_expire(payment=Payment(pk=pk), now=now).status == PaymentStatus.CANCELED:
                canceled += 1
        except GatewayError:
            logger.warning("Could not expire payment %s yet", pk, exc_info=True)
            cache.set(mark, now.timestamp() + EXPIRY_RETRY_SECONDS, timeout=EXPIRY_RETRY_SECONDS * 60)
    return canceled
