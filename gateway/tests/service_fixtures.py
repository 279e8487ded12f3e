"""Fixtures for the real services `make services` starts: each answers the
service's address, or fails the test with how to start it (never a skip).
Registered for the whole suite by the root conftest (pytest_plugins)."""

from __future__ import annotations

import os
import socket

import pytest

from conftest import celery_worker_running, service_unavailable


@pytest.fixture
def redis_client(settings):
    if not settings.REDIS_URL:
        service_unavailable("Redis", "REDIS_URL is not set")
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    try:
        client.ping()
    except Exception as exc:
        service_unavailable("Redis", f"{settings.REDIS_URL}: {exc}")
    return client


@pytest.fixture
def kafka_brokers(settings) -> list[str]:
    from gateway.events.kafka import kafka_ping

    if not settings.KAFKA_BROKERS:
        service_unavailable("Kafka", "KAFKA_BROKERS is not set")
    result = kafka_ping(timeout_ms=5000)
    if not result.ok:
        service_unavailable("Kafka", f"{settings.KAFKA_BROKERS}: {result.detail}")
    return list(settings.KAFKA_BROKERS)


@pytest.fixture
def localstripe(settings) -> str:
    from stripe_integration.client import psp_ping

    if not settings.STRIPE_API_BASE:
        service_unavailable("localstripe", "STRIPE_API_BASE is not set")
    result = psp_ping()
    if not result.ok:
        service_unavailable("localstripe", f"{settings.STRIPE_API_BASE}: {result.detail}")
    return settings.STRIPE_API_BASE


@pytest.fixture
def stripe_mock(settings) -> str:
    """Stripe's own mock (stripe-mock, started by `make services`), with the
    client sending exactly real Stripe's request shapes (LOCALSTRIPE_QUIRKS off)."""
    import requests

    url = os.environ.get("STRIPE_MOCK_URL", "")
    if not url:
        service_unavailable("stripe-mock", "STRIPE_MOCK_URL is not set")
    try:
        requests.get(f"{url}/v1/balance", auth=("sk_test_123", ""), timeout=3).raise_for_status()
    except requests.RequestException as exc:
        service_unavailable("stripe-mock", f"{url}: {exc}")
    settings.STRIPE_API_BASE = url
    settings.LOCALSTRIPE_QUIRKS = False
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return url


@pytest.fixture
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process on the test broker and the test database,
    consuming every queue. One per test (about 2 s to start): a worker kept for
    the session died when a fault test restarted Redis under it, as Celery
    workers on Redis can (kombu fails to restore unacknowledged messages on
    reconnect; docs/operations.md), and the next test that needed it failed."""
    from django.conf import settings

    if settings.CELERY_TASK_ALWAYS_EAGER:
        service_unavailable("Celery broker", "CELERY_BROKER_URL and REDIS_URL are not set")
    with celery_worker_running(name="pytest") as node:
        yield node


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers: a PSP that hangs."""
    import threading

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()
