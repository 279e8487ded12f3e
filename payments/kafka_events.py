"""A payment's Kafka event: its type, its topics and its body, version 1
(docs/events/payment-event.v1.schema.json). Never carries a card number, a
CVC, an OTP or an e-mail address.

Each timeline entry (payments.services.events) is turned into one, written to
the ground's transactional outbox (gateway.events.outbox) by the post_save
receiver in payments.receivers, in the same transaction as the change."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.utils import timezone

from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_record
from payments.models import PaymentEvent, Refund
from payments.money import format_amount

EVENT_VERSION = 1

# Timeline entry (payments.enums.EventType) -> event type. status_synced is
# typed by the status it reached; entries not listed are not published.
_TYPE_BY_TIMELINE = {
    "created": "payment.created",
    "requires_otp": "payment.requires_otp",
    "requires_action": "payment.requires_action",
    "requires_payment_method": "payment.requires_payment_method",
    "attempt_failed": "payment.attempt_failed",
    "processing": "payment.processing",
    "authorized": "payment.authorized",
    "charge_succeeded": "payment.succeeded",
    "captured": "payment.succeeded",
    "charge_failed": "payment.failed",
    "canceled": "payment.canceled",
    "refund_created": "refund.created",
    "refund_succeeded": "refund.succeeded",
    "refund_failed": "refund.failed",
    "dispute_created": "payment.disputed",
    "otp_sent": "otp.sent",
    "otp_verified": "otp.verified",
    "otp_failed": "otp.failed",
    "otp_locked": "otp.locked",
    "otp_expired": "otp.expired",
}
_TYPE_BY_SYNCED_STATUS = {
    "succeeded": "payment.succeeded",
    "failed": "payment.failed",
    "canceled": "payment.canceled",
    "requires_action": "payment.requires_action",
    "requires_payment_method": "payment.requires_payment_method",
    "requires_capture": "payment.authorized",
}


# Every type a payment's event can have (merchants' webhook endpoints subscribe to these).
EVENT_TYPES = frozenset(_TYPE_BY_TIMELINE.values()) | frozenset(_TYPE_BY_SYNCED_STATUS.values())


def event_type_for(timeline_type: str, status_after: str) -> str | None:
    if timeline_type == "status_synced":
        return _TYPE_BY_SYNCED_STATUS.get(status_after)
    return _TYPE_BY_TIMELINE.get(timeline_type)


def topics_for(event_type: str) -> list[str]:
    """Every event goes to the events topic; successes, failures and refunds to their own too."""
    topics = settings.KAFKA_TOPICS
    extra = {
        "payment.succeeded": topics["success"],
        "payment.failed": topics["failed"],
        "refund.failed": topics["failed"],
        "refund.succeeded": topics["refunded"],
    }.get(event_type)
    return [topics["events"], *([extra] if extra else [])]


def payment_snapshot(payment) -> dict:
    return {
        "payment_id": payment.public_id,
        "order_id": payment.order_id,
        "client_id": payment.client_id,
        "status": payment.status,
        "amount": format_amount(payment.amount_minor, payment.currency),
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "captured_minor": payment.captured_minor,
        "refunded_minor": payment.refunded_minor,
        "refundable_minor": payment.refundable_minor,
        "card": {"brand": payment.card_brand, "last4": payment.card_last4} if payment.card_last4 else None,
        "transaction_id": payment.stripe_payment_intent_id or None,
        "failure_code": payment.failure_code or None,
        "cancellation_reason": payment.cancellation_reason or None,
        "expires_at": payment.expires_at.isoformat() if payment.expires_at else None,
    }


def refund_snapshot(refund) -> dict:
    return {
        "refund_id": refund.public_id,
        "status": refund.status,
        "amount": format_amount(refund.amount_minor, refund.currency),
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "reason": refund.reason or None,
    }


def published_actor(actor: str) -> str:
    """The actor as merchants see it. An operator's username is the back-office's
    business (the timeline in the admin keeps it): events say `operator` only."""
    return "operator" if actor.startswith("operator:") else actor


def event_body(
    *,
    event_id: str,
    event_type: str,
    occurred_at,
    payment,
    refund=None,
    actor: str,
    request_id: str,
    details: dict,
) -> dict:
    body = {
        "id": event_id,
        "type": event_type,
        "version": EVENT_VERSION,
        "occurred_at": occurred_at.isoformat(),
        "payment": payment_snapshot(payment),
        "actor": published_actor(actor),
        "request_id": request_id or None,
        "details": details,
    }
    if refund is not None:
        body["refund"] = refund_snapshot(refund)
    return body


def outbox_record_timeline_event(*, timeline_event: PaymentEvent) -> OutboxEvent | None:
    """Writes the outbox row for one timeline entry, in the caller's transaction
    (entries that are not published, such as an OTP attempt count, write none)."""
    event_type = event_type_for(timeline_event.type, timeline_event.status_after)
    if event_type is None:
        return None
    payment = timeline_event.payment
    refund_id = (timeline_event.data or {}).get("refund_id")
    refund = getattr(timeline_event, "refund", None)  # given by payment_event_record
    if refund is None and refund_id:
        refund = Refund.objects.filter(public_id=refund_id).first()
    event_id = uuid.uuid4()
    return outbox_record(
        event_id=event_id,
        event_type=event_type,
        aggregate_type="payment",
        aggregate_id=payment.public_id,
        topics=topics_for(event_type),
        payload=event_body(
            event_id=str(event_id),
            event_type=event_type,
            occurred_at=timezone.now(),
            payment=payment,
            refund=refund,
            actor=timeline_event.actor,
            request_id=timeline_event.request_id,
            details=timeline_event.data or {},
        ),
    )
