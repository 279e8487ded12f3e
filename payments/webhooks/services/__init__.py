"""Webhooks services: the only writers of endpoints and deliveries.

The path of an event: a change commits its outbox row (gateway.events);
outbox_committed asks for a fan-out (receivers.py), which writes one delivery
per subscribed endpoint of the payment's client and marks the row; dispatch
gives each endpoint with due deliveries one sender task; the sender posts them
one at a time, in id order, and records each attempt. After a failure the
endpoint backs off: its other deliveries wait for the failed one's retry, so a
dead endpoint costs one timeout per retry, not one per delivery. No database
transaction or lock is held across an HTTP call. A crash mid-send leaves the
delivery pending, and it is sent again: delivery is at least once, and
receivers deduplicate on webhook-id.
"""

from __future__ import annotations

from payments.webhooks.services.delivery import *  # noqa: F403
from payments.webhooks.services.delivery import webhooks_dispatch
from payments.webhooks.services.endpoints import *  # noqa: F403
from payments.webhooks.services.endpoints import webhook_endpoints_disable_failing
from payments.webhooks.services.fanout import *  # noqa: F403
from payments.webhooks.services.fanout import webhooks_fan_out_all


def webhooks_sweep() -> dict:
    """The periodic run: fan-outs an after-commit task missed (the broker was
    down), disables endpoints failing too long, and dispatches what is due."""
    fan_out = webhooks_fan_out_all()
    disabled = webhook_endpoints_disable_failing()
    queued = webhooks_dispatch()
    return {
        "fanned_out": fan_out.rows,
        "deliveries": fan_out.deliveries,
        "disabled": disabled,
        "queued": queued,
    }
