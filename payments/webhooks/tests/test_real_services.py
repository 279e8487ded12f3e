"""Webhooks on the real services (MariaDB, Redis, Kafka, localstripe, real
Celery workers): a delivery is the Kafka message, and a dead receiver does not
hold the Kafka relay up. Not `fast`: `make test` runs them."""

from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from conftest import celery_worker_running, outbox_relay_running
from gateway.events.relay import OutboxRelayLoop
from gateway.events.tests.kafka_reader import TopicReader
from payments.services.api_clients import api_client_create
from payments.tests.fixtures import payment_body
from payments.webhooks.models import DeliveryStatus, WebhookDelivery
from payments.webhooks.services import webhook_endpoint_create


@pytest.mark.reliability(
    "Merchant integration",
    "A webhook carries the Kafka message's id and bytes, signed per Standard Webhooks (verified with the "
    "standardwebhooks library); nothing for a rolled-back change",
)
@pytest.mark.django_db
def test_a_payments_deliveries_carry_the_kafka_messages_id_and_bytes(
    pay, merchant, receiver, kafka_brokers, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the deliveries run here, after commit
    settings.WEBHOOK_ALLOW_LOCAL_URLS = True
    with django_capture_on_commit_callbacks(execute=True):
        webhook_endpoint_create(client=merchant, url=receiver.url, events=["payment.*"])
    events = TopicReader(kafka_brokers, "payment-events")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            payment_id = pay(card=None, payment_method="pm_card_visa").json()["payment_id"]
        OutboxRelayLoop().step(wait=0)  # the relay's next step, here: the rows are this test's transaction's
        messages = events.read(key=payment_id, expect=2)
    finally:
        events.close()

    assert [json.loads(m.value)["type"] for m in messages] == ["payment.created", "payment.succeeded"]
    delivered = {request["headers"]["webhook-id"]: request["body"] for request in receiver.requests}
    for message in messages:
        event_id = dict(message.headers)["event_id"].decode()
        assert delivered[event_id] == message.value  # the same bytes as on Kafka
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}


@pytest.mark.reliability(
    "Merchant integration",
    "A receiver failing twice gets three attempts on WEBHOOK_RETRY_SCHEDULE; a dead receiver delays neither "
    "Kafka nor another merchant",
)
@pytest.mark.django_db(transaction=True)
def test_a_dead_receiver_does_not_delay_the_kafka_events(kafka_brokers, localstripe, silent_port, settings):
    # Laid out as in production: the relay process, and a worker for
    # "webhooks". The receiver accepts the connection and never answers.
    client, raw_key = api_client_create(name="dead-receiver")
    webhook_endpoint_create(client=client, url=f"http://127.0.0.1:{silent_port}/hooks", events=["*"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    events = TopicReader(kafka_brokers, "payment-events")
    webhook_env = {"WEBHOOK_TIMEOUT_SECONDS": "8", "WEBHOOK_ALLOW_LOCAL_URLS": "true"}
    try:
        with (
            outbox_relay_running(),
            celery_worker_running(name="wh-webhooks", args=("-Q", "webhooks"), env=webhook_env),
        ):
            started = time.monotonic()
            answer = api.post(
                "/api/v1/payments/process",
                payment_body(card=None, payment_method="pm_card_visa"),
                format="json",
            )
            payment_id = answer.json()["payment_id"]
            messages = events.read(key=payment_id, expect=2, timeout=10)
            kafka_seconds = time.monotonic() - started
            deadline = time.monotonic() + 5
            while WebhookDelivery.objects.count() < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            deliveries = list(WebhookDelivery.objects.all())
    finally:
        events.close()

    assert answer.status_code == 201
    assert len(messages) == 2 and kafka_seconds < 5, kafka_seconds
    assert len(deliveries) == 2
    # Still in flight (or waiting behind it) when Kafka had both events.
    assert all(d.status == DeliveryStatus.PENDING and d.delivered_at is None for d in deliveries)
