"""Mirrors our payments' Stripe objects into dj-stripe's tables (the design
card's choice), and links our rows to them.

It runs after commit in a Celery task, never in the request path: dj-stripe's
sync fetches related objects (payment method, balance transaction) and would
otherwise add their latency to every payment.
"""

from __future__ import annotations

import logging

from django.conf import settings
from djstripe import models as djstripe_models

from gateway.logging import client_secrets_scrubbed
from payments.models import Payment
from payments.services.payments import payment_mirror_link
from payments.services.refunds import refund_mirror_link
from stripe_integration.client import stripe_object_for_sync

logger = logging.getLogger("stripe_integration.sync")


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
    # The mirror keeps no client secret (gateway.logging.client_secrets_scrubbed).
    intent = client_secrets_scrubbed(
        stripe_object_for_sync(kind="payment_intent", object_id=payment.stripe_payment_intent_id)
    )
    djstripe_intent = djstripe_models.PaymentIntent.sync_from_stripe_data(intent, api_key=api_key)
    synced.append(djstripe_intent.id)
    payment_mirror_link(payment=payment, djstripe_payment_intent=djstripe_intent)

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
    # one PSP call per earlier refund (quadratic; seen in `make bench`).
    for refund in payment.refunds.exclude(stripe_refund_id="").filter(djstripe_refund__isnull=True):
        data = stripe_object_for_sync(kind="refund", object_id=refund.stripe_refund_id)
        djstripe_refund = djstripe_models.Refund.sync_from_stripe_data(data, api_key=api_key)
        refund_mirror_link(refund=refund, djstripe_refund=djstripe_refund)
        synced.append(djstripe_refund.id)
    return synced
