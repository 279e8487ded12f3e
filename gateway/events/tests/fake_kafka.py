"""A stand-in for kafka-python's producer, for the fast tests of the relay:
it keeps what was sent, in order, and acknowledges (or fails) each send."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class _Ack:
    partition: int
    offset: int


class _Future:
    def __init__(self, ack: _Ack | None, error: Exception | None):
        self.ack, self.error = ack, error

    def get(self, timeout: float):
        if self.error is not None:
            raise self.error
        return self.ack


@dataclass
class FakeProducer:
    """sent: (topic, key, event_id) in the order send() was called.
    fail_keys: keys whose sends fail (a broker down for their partition)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail_keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, topic, *, key, value, headers):
        event_id = dict(headers)["event_id"].decode()
        with self.lock:
            if key.decode() in self.fail_keys:
                return _Future(None, TimeoutError("fake broker: no leader"))
            self.sent.append((topic, key.decode(), event_id))
            return _Future(_Ack(0, len(self.sent) - 1), None)

    def event_ids(self, key: str | None = None) -> list[str]:
        return [event_id for _topic, k, event_id in self.sent if key is None or k == key]
