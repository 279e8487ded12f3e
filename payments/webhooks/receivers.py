"""Receivers: after a commit that wrote outbox rows, ask for a fan-out. No rules here."""

from __future__ import annotations

from django.dispatch import receiver

from gateway.events.signals import outbox_committed
from payments.webhooks.services import webhooks_fan_out_soon


@receiver(outbox_committed, dispatch_uid="webhooks-fan-out")
def fan_out_soon(sender, **kwargs) -> None:
    webhooks_fan_out_soon()
