"""Mirrors our payments' Stripe objects into dj-stripe's tables (the design
card's choice). Our rows and the mirror's share the Stripe ids, so nothing on
our side points into dj-stripe's tables: this module is the only reader of
them (with this app's admin).

It runs after commit in a Celery task, never in the request path: dj-stripe's
sync fetches related objects (payment method, balance transaction) and would
otherwise add their latency to every payment.
"""

from __future__ import annotations

import logging

from django.conf import settings
from djstripe import models as djstripe_models

from gateway.core.logging import client_secrets_scrubbed
from payments.models import Payment
from stripe_integration.client import stripe_object_for_sync

logger = logging.getLogger("stripe_integration.mirror")


def djstripe_sync_api_key() -> str:
    """The key dj-stripe syncs with, and so stores in djstripe_apikey: the
    restricted read-only DJSTRIPE_SYNC_KEY (settings refuse a secret key there),
    or "" (the mirror is off). Never STRIPE_SECRET_KEY."""
    key = settings.DJSTRIPE_SYNC_KEY
    return "" if not key or key == settings.STRIPE_SECRET_KEY else key


def djstripe_sync_payment(*, payment: Payment) -> list[str]:
    """Syncs the payment's PaymentIntent, latest Charge and new Refunds. Returns the synced ids."""
    if not payment.stripe_payment_intent_id:
        return []
    api_key = djstripe_sync_api_key()
    if not api_key:
        logger.info("dj-stripe mirror off: no DJSTRIPE_SYNC_KEY")
        return []
    synced = []
    mirrored_before = djstripe_mirrored_refund_ids(payment=payment)
    # The mirror keeps no client secret (gateway.core.logging.client_secrets_scrubbed).
    intent = client_secrets_scrubbed(
        stripe_object_for_sync(kind="payment_intent", object_id=payment.stripe_payment_intent_id)
    )
    synced.append(djstripe_models.PaymentIntent.sync_from_stripe_data(intent, api_key=api_key).id)

    # localstripe answers latest_charge with a full object; Stripe with an id.
    latest = intent.get("latest_charge")
    charge = (
        latest
        if isinstance(latest, dict)
        else (stripe_object_for_sync(kind="charge", object_id=latest) if latest else None)
    )
    if charge:
        synced.append(djstripe_models.Charge.sync_from_stripe_data(charge, api_key=api_key).id)

    # Refunds already mirrored are skipped: a refund is first synced once it is
    # settled, and syncing them all again made each refund of a payment cost
    # one PSP call per earlier refund (quadratic; seen in `make bench`). The
    # charge's sync may have mirrored some of them just now.
    mirrored = djstripe_mirrored_refund_ids(payment=payment)
    synced.extend(sorted(mirrored - mirrored_before))
    for refund_id in payment.refunds.exclude(stripe_refund_id="").values_list("stripe_refund_id", flat=True):
        if refund_id in mirrored:
            continue
        data = stripe_object_for_sync(kind="refund", object_id=refund_id)
        synced.append(djstripe_models.Refund.sync_from_stripe_data(data, api_key=api_key).id)
    return synced


def djstripe_mirrored_payment_intent(*, payment: Payment):
    """The payment's PaymentIntent as dj-stripe mirrored it, or None."""
    if not payment.stripe_payment_intent_id:
        return None
    return djstripe_models.PaymentIntent.objects.filter(id=payment.stripe_payment_intent_id).first()


def djstripe_mirrored_refund_ids(*, payment: Payment) -> set[str]:
    """The Stripe ids of the payment's refunds that dj-stripe has mirrored."""
    refund_ids = payment.refunds.exclude(stripe_refund_id="").values_list("stripe_refund_id", flat=True)
    return set(djstripe_models.Refund.objects.filter(id__in=list(refund_ids)).values_list("id", flat=True))
