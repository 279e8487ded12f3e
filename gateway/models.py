"""Tables of the project package: the transactional outbox of events."""

from gateway.events.models import OutboxEvent

__all__ = ["OutboxEvent"]
