"""The Kafka producer: one per process, created on first use."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from gateway.core.process_exit import process_exit_call
from gateway.events.kafka import kafka_security_options

logger = logging.getLogger("gateway.events")
_lock = threading.Lock()
_producer = None
_producer_brokers: tuple[str, ...] = ()


def kafka_producer():
    """acks=all, retries, and the idempotent producer: a retried send is
    written once per partition. Recreated when KAFKA_BROKERS changes."""
    global _producer, _producer_brokers
    brokers = tuple(settings.KAFKA_BROKERS)
    with _lock:
        if _producer is None or _producer_brokers != brokers:
            from kafka import KafkaProducer

            if _producer is not None:
                _producer.close(timeout=1)
            _producer = KafkaProducer(
                bootstrap_servers=list(brokers),
                client_id="payment-gateway",
                acks="all",
                enable_idempotence=True,
                retries=5,
                max_in_flight_requests_per_connection=5,
                linger_ms=5,
                request_timeout_ms=settings.KAFKA_REQUEST_TIMEOUT_MS,
                max_block_ms=settings.KAFKA_REQUEST_TIMEOUT_MS,
                **kafka_security_options(),
            )
            _producer_brokers = brokers
        return _producer


def kafka_producer_reset() -> None:
    """Drops the producer (after a failure), so the next use reconnects."""
    global _producer
    with _lock:
        if _producer is not None:
            try:
                _producer.close(timeout=1)
            except Exception:  # closing a broken producer may fail in several ways
                logger.debug("Closing the Kafka producer failed", exc_info=True)
            _producer = None


# Flush and close on interpreter exit, rather than leaving it to the garbage collector.
process_exit_call(kafka_producer_reset)
