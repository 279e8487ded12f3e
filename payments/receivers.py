"""post_save receivers: each timeline entry is recorded in the outbox, in the
same transaction as the change. No business rules here."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from payments.kafka_events import outbox_record_timeline_event


@receiver(post_save, sender="payments.PaymentEvent", dispatch_uid="outbox-payment-event")
def record_payment_event(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    # The timeline holds one entry per change of a payment or a refund, written
    # in the same transaction as the change; saving a Payment or Refund row
    # without a timeline entry (a card summary, a dj-stripe link) is not an event.
    if created and not raw:
        outbox_record_timeline_event(timeline_event=instance)
