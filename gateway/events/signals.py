"""Signals of the outbox, for apps that act on events besides the Kafka relay.

The ground imports no app: an app that wants to know when events were
committed connects a receiver here (payments.webhooks does, to send them to
merchants' endpoints)."""

from __future__ import annotations

import logging

from django.dispatch import Signal

logger = logging.getLogger("gateway.events")

# Sent after a transaction that wrote outbox rows committed (once per request
# within outbox_publish_deferred). No arguments: receivers read the rows.
outbox_committed = Signal()


def outbox_committed_send() -> None:
    """Sends outbox_committed; a receiver's error is logged, never raised: the
    change is committed, and what a receiver failed to do the sweepers do."""
    for receiver, result in outbox_committed.send_robust(sender=None):
        if isinstance(result, Exception):
            logger.warning(
                "A receiver of outbox_committed failed (%s); its sweeper catches up",
                getattr(receiver, "__qualname__", receiver),
                exc_info=result,
            )
