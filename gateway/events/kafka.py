"""Kafka plumbing shared by every app: connection settings, topic creation,
and a health probe. The events pipeline (outbox, producer) builds on this."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings


def kafka_enabled() -> bool:
    return bool(settings.KAFKA_BROKERS)


def kafka_security_options() -> dict:
    """TLS and SASL for every Kafka client of ours (KAFKA_SECURITY_PROTOCOL,
    KAFKA_SASL_*, KAFKA_SSL_CAFILE), as kafka-python names them."""
    options: dict = {"security_protocol": settings.KAFKA_SECURITY_PROTOCOL}
    if settings.KAFKA_SECURITY_PROTOCOL.startswith("SASL_"):
        options.update(
            sasl_mechanism=settings.KAFKA_SASL_MECHANISM,
            sasl_plain_username=settings.KAFKA_SASL_USERNAME,
            sasl_plain_password=settings.KAFKA_SASL_PASSWORD,
        )
    if settings.KAFKA_SECURITY_PROTOCOL.endswith("SSL"):
        options["ssl_check_hostname"] = True
        if settings.KAFKA_SSL_CAFILE:
            options["ssl_cafile"] = settings.KAFKA_SSL_CAFILE
    return options


def kafka_admin(*, timeout_ms: int = 5000):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=settings.KAFKA_BROKERS,
        client_id="payment-gateway-admin",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
        **kafka_security_options(),
    )


def kafka_topic_names() -> list[str]:
    return list(dict.fromkeys(settings.KAFKA_TOPICS.values()))


def kafka_topics_ensure() -> tuple[list[str], list[str]]:
    """Creates the configured topics that are missing. Returns (created, existing)."""
    from kafka.admin import NewTopic

    admin = kafka_admin()
    try:
        existing = set(admin.list_topics())
        wanted = kafka_topic_names()
        missing = [name for name in wanted if name not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(
                        name,
                        settings.KAFKA_TOPIC_PARTITIONS,
                        settings.KAFKA_REPLICATION_FACTOR,
                        topic_configs=(
                            {"min.insync.replicas": str(settings.KAFKA_MIN_INSYNC_REPLICAS)}
                            if settings.KAFKA_MIN_INSYNC_REPLICAS
                            else {}
                        ),
                    )
                    for name in missing
                ]
            )
        return missing, [name for name in wanted if name in existing]
    finally:
        admin.close()


@dataclass(frozen=True)
class KafkaHealth:
    ok: bool
    latency_ms: float
    detail: str


def kafka_ping(*, timeout_ms: int = 2000) -> KafkaHealth:
    """Connects to the cluster and reads its metadata."""
    started = time.perf_counter()
    try:
        admin = kafka_admin(timeout_ms=timeout_ms)
    except Exception as exc:  # kafka-python raises several unrelated types here
        return KafkaHealth(False, _ms(started), type(exc).__name__)
    try:
        cluster = admin.describe_cluster()
        brokers = len(cluster.get("brokers", []))
        return KafkaHealth(brokers > 0, _ms(started), f"{brokers} broker(s)")
    except Exception as exc:
        return KafkaHealth(False, _ms(started), type(exc).__name__)
    finally:
        admin.close()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
