"""The mirror's Celery tasks, on the "djstripe" queue (gateway/settings/tasks.py)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger("stripe_integration.mirror")


@shared_task
def djstripe_sync_task(payment_pk: int) -> list[str]:
    """Mirrors one payment's Stripe objects into dj-stripe's tables. Repeating it
    is harmless. A mirror must never break a payment: errors are logged, and
    the next sync of the payment (or dj-stripe's own sync command) catches up."""
    from payments.models import Payment
    from stripe_integration.mirror.sync import djstripe_sync_payment

    payment = Payment.objects.filter(pk=payment_pk).first()
    if payment is None:
        return []
    try:
        return djstripe_sync_payment(payment=payment)
    except Exception:
        logger.warning("dj-stripe sync of payment %s failed", payment.public_id, exc_info=True)
        return []


@shared_task(acks_late=True)
def djstripe_sync_pending_task() -> int | None:
    """Mirrors every payment marked since the last batch (stripe_integration.mirror.batches)."""
    from stripe_integration.mirror.batches import djstripe_mirror_pending

    return djstripe_mirror_pending(sync=_mirror_payment)


def _mirror_payment(payment_pk: int) -> None:
    """One payment's mirror, for a batch: raises when it fails, so the batch keeps it for later."""
    from payments.models import Payment
    from stripe_integration.mirror.sync import djstripe_sync_payment

    payment = Payment.objects.filter(pk=payment_pk).first()
    if payment is not None:
        djstripe_sync_payment(payment=payment)


@shared_task
def djstripe_mirror_sweep_task() -> bool:
    """Celery beat: queues a mirror batch when payments wait and none is queued."""
    from stripe_integration.mirror.batches import djstripe_mirror_sweep

    return djstripe_mirror_sweep()
