"""Reads what a test's actions published to a real Kafka broker."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition


class TopicReader:
    """Remembers the end of each topic now, and reads what arrives after it."""

    def __init__(self, brokers: list[str], *topics: str):
        self.consumer = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False, group_id=None)
        deadline = time.monotonic() + 30  # a broker just restarted may not know its topics yet
        while True:
            known = {topic: self.consumer.partitions_for_topic(topic) for topic in topics}
            if all(known.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.partitions = [TopicPartition(topic, p) for topic in topics for p in sorted(known[topic] or [])]
        assert self.partitions, f"no partitions known for {topics}"
        self.consumer.assign(self.partitions)
        self.start = self.consumer.end_offsets(self.partitions)

    def read(self, *, key: str | None = None, expect: int | None = None, timeout: float = 15) -> list:
        for partition, offset in self.start.items():
            self.consumer.seek(partition, offset)
        messages, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=300).values():
                messages.extend(m for m in batch if key is None or m.key == key.encode())
            if expect is not None and len(messages) >= expect:
                # One more short poll: anything beyond `expect` is a duplicate to catch.
                for batch in self.consumer.poll(timeout_ms=500).values():
                    messages.extend(m for m in batch if key is None or m.key == key.encode())
                break
        return messages

    def close(self):
        self.consumer.close()
