"""The event body, version 1. Documented in the README and in
docs/events/payment-event.v1.schema.json. Never carries a card number, a
CVC, an OTP or an e-mail address."""

from __future__ import annotations

from django.conf import settings

EVENT_VERSION = 1

# Timeline entry (payments.enums.EventType) -> event type. status_synced is
# typed by the status it reached; entries not listed are not published.
_TYPE_BY_TIMELINE = {
    "created": "payment.created",
    "requires_otp": "payment.requires_otp",
    "requires_action": "payment.requires_action",
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
    "operator_action": "payment.operator_action",
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
    "requires_capture": "payment.authorized",
}


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
    from payments.money import format_amount

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
    }


def refund_snapshot(refund) -> dict:
    from payments.money import format_amount

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
