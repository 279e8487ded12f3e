"""Stripe webhooks: verify, store, deduplicate, then route by type.

The raw event is stored before processing and outside its transaction, so a
delivery is never lost even when processing fails; `manage.py
stripe_webhooks_reprocess --failed` retries those. Handlers do not trust the
event's snapshot of a PaymentIntent: they re-fetch it, so an old event
delivered late cannot move a payment backwards.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.errors import InvalidRequest
from payments.enums import EventType, RefundStatus
from payments.models import Payment, Refund
from payments.services.events import payment_event_record
from payments.services.payments import payment_sync_from_psp
from payments.services.refunds import refund_record_external, refund_settle
from stripe_integration.client import webhook_event_construct
from stripe_integration.models import StripeWebhookEvent

logger = logging.getLogger("stripe_integration.webhooks")

MAX_ERROR_LENGTH = 4000


def webhook_receive(*, payload: bytes, signature: str, remote_ip: str | None) -> StripeWebhookEvent:
    """Stores the delivery, then processes it unless it was processed before."""
    text = payload.decode("utf-8", errors="replace")
    try:
        event = webhook_event_construct(
            payload=payload, signature=signature, secret=settings.STRIPE_WEBHOOK_SECRET
        )
    except InvalidRequest:
        StripeWebhookEvent.objects.create(
            payload=text, signature_valid=False, remote_ip=remote_ip, error="invalid signature"
        )
        raise
    try:
        with transaction.atomic():
            record = StripeWebhookEvent.objects.create(
                event_id=event["id"],
                type=event.get("type", ""),
                livemode=bool(event.get("livemode")),
                payload=text,
                signature_valid=True,
                remote_ip=remote_ip,
            )
    except IntegrityError:
        record = StripeWebhookEvent.objects.get(event_id=event["id"])
        if record.processed:
            return record  # a replay: nothing to do
    return webhook_process(record=record, event=event)


def webhook_process(*, record: StripeWebhookEvent, event: dict) -> StripeWebhookEvent:
    handler = HANDLERS.get(event.get("type", ""))
    record.attempts += 1
    try:
        # No transaction around the handler: the services it calls lock and
        # commit on their own, and none holds a lock while Stripe is called.
        note = handler(event) if handler else "ignored: not a type the gateway handles"
    except Exception as exc:  # stored for reprocessing; the delivery itself was fine
        logger.exception("Webhook %s (%s) failed", record.event_id, record.type)
        record.error = "".join(traceback.format_exception_only(exc))[:MAX_ERROR_LENGTH]
        record.save(update_fields=["attempts", "error"])
        return record
    record.processed, record.processed_at, record.error = True, timezone.now(), note or ""
    record.save(update_fields=["attempts", "processed", "processed_at", "error"])
    return record


def _payment_for_intent(intent_id: str, metadata: dict | None) -> Payment | None:
    payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first() if intent_id else None
    if payment is None and metadata and metadata.get("gateway_payment_uuid"):
        payment = Payment.objects.filter(uuid=metadata["gateway_payment_uuid"]).first()
    return payment


def _actor(event: dict) -> str:
    return f"webhook:{event['id']}"


def _on_payment_intent(event: dict) -> str:
    intent = event["data"]["object"]
    payment = _payment_for_intent(intent.get("id", ""), intent.get("metadata"))
    if payment is None:
        return "ignored: no payment of ours for this PaymentIntent"
    if not payment.stripe_payment_intent_id:
        Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=intent["id"])
        payment.stripe_payment_intent_id = intent["id"]
    before = payment.status
    payment = payment_sync_from_psp(payment=payment, actor=_actor(event))
    return f"{before} -> {payment.status}"


_REFUND_STATUS = {
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def _settle_refund_object(event: dict, refund_object: dict, payment: Payment | None) -> str:
    refund = Refund.objects.filter(stripe_refund_id=refund_object["id"]).first()
    refund_id = (refund_object.get("metadata") or {}).get("refund_id")
    if refund is None and refund_id:
        refund = Refund.objects.filter(public_id=refund_id).first()
    status = _REFUND_STATUS.get(refund_object.get("status", ""))
    if refund is not None:
        if status:
            refund_settle(
                refund=refund,
                status=status,
                actor=_actor(event),
                stripe_refund_id=refund_object["id"],
                failure_code=refund_object.get("failure_reason") or "",
            )
        return f"refund {refund.public_id}: {refund_object.get('status')}"
    if payment is not None and status == RefundStatus.SUCCEEDED:
        refund = refund_record_external(
            payment=payment,
            amount_minor=refund_object["amount"],
            stripe_refund_id=refund_object["id"],
            actor=_actor(event),
        )
        return f"external refund recorded as {refund.public_id}"
    return "ignored: no refund or payment of ours"


def _on_charge_refunded(event: dict) -> str:
    charge = event["data"]["object"]
    payment = _payment_for_intent(charge.get("payment_intent") or "", charge.get("metadata"))
    refunds = (charge.get("refunds") or {}).get("data") or []
    return "; ".join(_settle_refund_object(event, r, payment) for r in refunds) or "no refunds listed"


def _on_refund(event: dict) -> str:
    refund_object = event["data"]["object"]
    payment = _payment_for_intent(refund_object.get("payment_intent") or "", None)
    return _settle_refund_object(event, refund_object, payment)


def _on_dispute_created(event: dict) -> str:
    dispute = event["data"]["object"]
    payment = _payment_for_intent(dispute.get("payment_intent") or "", None)
    if payment is None and dispute.get("charge"):
        payment = Payment.objects.filter(stripe_charge_id=dispute["charge"]).first()
    if payment is None:
        return "ignored: no payment of ours for this dispute"
    # Recorded for operators; a dispute does not change the status by itself.
    payment_event_record(
        payment=payment,
        type=EventType.DISPUTE_CREATED,
        actor=_actor(event),
        status_before=payment.status,
        data={
            "dispute": dispute.get("id"),
            "amount_minor": dispute.get("amount"),
            "reason": dispute.get("reason"),
        },
    )
    return f"dispute {dispute.get('id')} recorded"


HANDLERS: dict[str, Callable[[dict], str]] = {
    "payment_intent.succeeded": _on_payment_intent,
    "payment_intent.payment_failed": _on_payment_intent,
    "payment_intent.requires_action": _on_payment_intent,
    "payment_intent.canceled": _on_payment_intent,
    "payment_intent.amount_capturable_updated": _on_payment_intent,
    "charge.refunded": _on_charge_refunded,
    "refund.updated": _on_refund,
    "refund.created": _on_refund,
    "charge.dispute.created": _on_dispute_created,
}


def webhook_reprocess(*, record: StripeWebhookEvent) -> StripeWebhookEvent:
    """Runs a stored, validly signed event through its handler again."""
    import json

    if not record.signature_valid:
        return record
    return webhook_process(record=record, event=json.loads(record.payload))
