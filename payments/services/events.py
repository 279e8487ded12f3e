"""The payment timeline: append-only events with their actor."""

from __future__ import annotations

from gateway.core.request_context import current_request_id
from payments.models import Payment, PaymentEvent, Refund


def payment_event_record(
    *,
    payment: Payment,
    type: str,
    actor: str,
    status_before: str = "",
    status_after: str = "",
    data: dict | None = None,
    refund: Refund | None = None,
) -> PaymentEvent:
    """Appends to the timeline. `refund`, for a refund's event, rides along
    unsaved to the post_save receivers (the outbox), which would otherwise
    read it again."""
    event = PaymentEvent(
        payment=payment,
        type=type,
        actor=actor,
        status_before=status_before,
        status_after=status_after or payment.status,
        data=data or {},
        request_id=current_request_id() or "",
    )
    event.refund = refund
    event.save(force_insert=True)
    return event
