"""Stripe webhooks: verify, store, deduplicate, then route by type.

The raw event is stored before processing and outside its transaction, so a
delivery is never lost even when processing fails; `manage.py
stripe_webhooks_reprocess --failed` retries those. Handlers do not trust the
event's body: they re-fetch the PaymentIntent or the refunds from the PSP
and act on what it says, so an old event delivered late cannot move a payment
backwards, and a forged event (signed with a leaked secret) cannot mark a
payment refunded. Only deliveries that pass the signature check are stored:
an unsigned flood costs a counter, not the database.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.core.errors import GatewayError, InvalidRequest
from gateway.core.logging import client_secrets_scrubbed
from gateway.core.metrics import WEBHOOK_INVALID
from payments.enums import EventType, RefundStatus
from payments.models import Payment, Refund
from payments.providers import RefundResult, get_provider
from payments.services.charges import payment_sync_from_psp
from payments.services.events import payment_event_record
from payments.services.payments import payment_link_payment_intent
from payments.services.reconcile import REVIEW_RETURN
from payments.services.refunds import refund_record_external, refund_settle
from stripe_integration.client import webhook_event_construct
from stripe_integration.models import StripeWebhookEvent

logger = logging.getLogger("stripe_integration.webhooks")

MAX_ERROR_LENGTH = 4000


def webhook_receive(*, payload: bytes, signature: str, remote_ip: str | None) -> StripeWebhookEvent:
    """Stores the delivery, then processes it unless it was processed before."""
    # Stored as received but for client secrets, which are never kept (gateway.core.logging).
    text = client_secrets_scrubbed(payload.decode("utf-8", errors="replace"))
    try:
        event = webhook_event_construct(
            payload=payload, signature=signature, secret=settings.STRIPE_WEBHOOK_SECRET
        )
    except InvalidRequest:
        WEBHOOK_INVALID.inc()
        logger.warning("Webhook delivery with a bad signature from %s (not stored)", remote_ip)
        raise
    try:
        with transaction.atomic():
            record = StripeWebhookEvent.objects.create(
                event_id=event["id"],
                type=event.get("type", ""),
                livemode=bool(event.get("livemode")),
                payload=text,
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
        # The PSP's own copy, not the event's, decides whether it is this payment's.
        fetched = get_provider().retrieve_charge(payment_intent_id=intent["id"])
        linked = payment_link_payment_intent(payment=payment, result=fetched)
        if linked is None:
            return f"ignored: PaymentIntent {intent['id']} is not this payment's"
        payment = linked
    before = payment.status
    payment = payment_sync_from_psp(payment=payment, actor=_actor(event))
    return f"{before} -> {payment.status}"


def _psp_refund(refund_id: str) -> RefundResult | None:
    """The refund as the PSP has it; None when it has no such refund."""
    try:
        return get_provider().retrieve_refund(refund_id=refund_id)
    except GatewayError as exc:
        if exc.code == "resource_missing":
            return None
        raise  # the PSP is unreachable: the event is kept and reprocessed


def _settle_refund(event: dict, fetched: RefundResult, payment: Payment | None) -> str:
    if fetched.metadata.get("review") == REVIEW_RETURN:
        return f"ignored: refund {fetched.refund_id} returns a charge an operator's review gave back"
    refund = Refund.objects.filter(stripe_refund_id=fetched.refund_id).first()
    refund_id = fetched.metadata.get("refund_id")
    if refund is None and refund_id:
        refund = Refund.objects.filter(public_id=refund_id).first()
    if refund is not None:
        if refund.payment.stripe_payment_intent_id != fetched.payment_intent_id:
            return f"ignored: refund {fetched.refund_id} is not of this payment's PaymentIntent"
        if fetched.status != RefundStatus.PENDING:
            refund_settle(
                refund=refund,
                status=fetched.status,
                actor=_actor(event),
                stripe_refund_id=fetched.refund_id,
                failure_code=fetched.failure_reason,
            )
        return f"refund {refund.public_id}: {fetched.status}"
    if payment is not None and fetched.status == RefundStatus.SUCCEEDED:
        refund = refund_record_external(
            payment=payment,
            amount_minor=fetched.amount_minor,
            stripe_refund_id=fetched.refund_id,
            actor=_actor(event),
        )
        return f"external refund recorded as {refund.public_id}"
    return "ignored: no refund or payment of ours"


def _on_charge_refunded(event: dict) -> str:
    """The charge in the event only says which PaymentIntent to look at: its
    refunds are listed again at the PSP."""
    charge = event["data"]["object"]
    payment = _payment_for_intent(charge.get("payment_intent") or "", charge.get("metadata"))
    if payment is None or not payment.stripe_payment_intent_id:
        return "ignored: no payment of ours for this charge"
    refunds = get_provider().list_refunds(payment_intent_id=payment.stripe_payment_intent_id)
    return "; ".join(_settle_refund(event, r, payment) for r in refunds) or "no refunds at the PSP"


def _on_refund(event: dict) -> str:
    fetched = _psp_refund(event["data"]["object"]["id"])
    if fetched is None:
        return "ignored: the PSP has no such refund"
    payment = _payment_for_intent(fetched.payment_intent_id, None)
    return _settle_refund(event, fetched, payment)


def _on_dispute_created(event: dict) -> str:
    """The event only names the dispute: the PSP's own copy says which charge it
    is on, and it must be the payment's (as for refunds and PaymentIntents)."""
    try:
        dispute = get_provider().retrieve_dispute(dispute_id=event["data"]["object"]["id"])
    except GatewayError as exc:
        if exc.code == "resource_missing":
            return "ignored: the PSP has no such dispute"
        raise  # the PSP is unreachable: the event is kept and reprocessed
    payment = _payment_for_intent(dispute.payment_intent_id, None) if dispute.payment_intent_id else None
    if payment is None and dispute.charge_id:
        payment = Payment.objects.filter(stripe_charge_id=dispute.charge_id).first()
    if payment is None:
        return "ignored: no payment of ours for this dispute"
    if dispute.charge_id and payment.stripe_charge_id and payment.stripe_charge_id != dispute.charge_id:
        return f"ignored: dispute {dispute.dispute_id} is not on this payment's charge"
    # Recorded for operators; a dispute does not change the status by itself.
    payment_event_record(
        payment=payment,
        type=EventType.DISPUTE_CREATED,
        actor=_actor(event),
        status_before=payment.status,
        data={"dispute": dispute.dispute_id, "amount_minor": dispute.amount_minor, "reason": dispute.reason},
    )
    return f"dispute {dispute.dispute_id} recorded"


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
    """Runs a stored event (every stored one was validly signed) through its handler again."""
    import json

    return webhook_process(record=record, event=json.loads(record.payload))
