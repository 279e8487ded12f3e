"""One payment, one trace, read back whole from a real receiver (issue #28).

The gateway runs under its server (Granian) with tracing on, exporting over OTLP/HTTP to
Jaeger (`make tracing`, which this test starts when it is not running, and
fails, never skips, when it cannot). A payment is made through the API against
localstripe, the outbox is relayed to Kafka by `manage.py outbox_relay` in a
process of its own, and a merchant's webhook is delivered. Then the Kafka
message's traceparent header names the trace, and Jaeger's query API must
hold, in that one trace, the API request, its SQL, the PSP call, the outbox
write and the relay's publish; the webhook carries the same trace id.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.db import connection

from conftest import ROOT, database_url_of, server_start, service_unavailable
from gateway.events.models import OutboxEvent
from payments.tests.fixtures import payment_body
from payments.webhooks.models import WebhookDelivery
from payments.webhooks.services import webhook_delivery_send, webhook_endpoint_create, webhooks_fan_out
from payments.webhooks.tests.conftest import Receiver

QUERY = "http://127.0.0.1:16686"
OTLP = "http://127.0.0.1:4318"


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def jaeger() -> str:
    """Jaeger as `make tracing` starts it (scripts/services.sh start jaeger, which
    builds it first when this checkout has not yet); left running after the test."""
    if not (_answers(16686) and _answers(4318)):
        started = subprocess.run(
            ["bash", "scripts/services.sh", "start", "jaeger"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,  # a first build with cold Go caches takes minutes
        )
        if started.returncode != 0:
            service_unavailable(
                "Jaeger", f"services.sh start jaeger: {(started.stdout + started.stderr)[-2000:]}"
            )
    try:
        requests.get(f"{QUERY}/api/services", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        service_unavailable("Jaeger", f"{QUERY}/api/services: {exc}")
    return QUERY


def _kafka_headers(brokers: list[str], row: OutboxEvent) -> dict[str, str]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False, group_id=None)
    try:
        partition = TopicPartition(row.topics[0], row.kafka_partition)
        consumer.assign([partition])
        consumer.seek(partition, row.kafka_offset)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    if message.offset == row.kafka_offset:
                        return {name: value.decode() for name, value in message.headers}
    finally:
        consumer.close()
    raise AssertionError(f"no message at {row.topics[0]}/{row.kafka_partition}@{row.kafka_offset}")


def _trace(trace_id: str, *, wanted, timeout: float = 40) -> list[dict]:
    """The trace's spans, once `wanted(spans)` holds (export is batched), each
    with its tags as a dict."""
    deadline, spans = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        answer = requests.get(f"{QUERY}/api/traces/{trace_id}", timeout=5)
        if answer.status_code != 404:  # 404: not there yet
            answer.raise_for_status()
        data = answer.json()["data"] if answer.status_code == 200 else []
        spans = [
            {**span, "tags": {tag["key"]: tag["value"] for tag in span["tags"]}}
            for trace in data
            for span in trace["spans"]
        ]
        if spans and wanted(spans):
            return spans
        time.sleep(0.5)
    return spans


@pytest.mark.tracing_receiver
@pytest.mark.django_db(transaction=True)
def test_one_payment_is_one_trace_from_the_api_through_the_psp_and_outbox_to_kafka_and_the_webhook(
    jaeger, merchant, localstripe, kafka_brokers, settings
):
    settings.WEBHOOK_ALLOW_LOCAL_URLS = True
    receiver = Receiver()
    webhook_endpoint_create(client=merchant, url=receiver.url, events=["*"])
    traced = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
        "OTEL_SERVICE_NAME": "gateway-trace-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    before = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    server, base = server_start(**traced)
    try:
        answer = requests.post(
            f"{base}/api/v1/payments/process",
            json=payment_body(order_id="o-traced"),
            headers={"Authorization": f"Bearer {merchant.raw_key}"},
            timeout=30,
        )
    finally:
        server.terminate()  # its last spans are flushed as it stops
        server.wait(timeout=30)
    assert answer.status_code == 201, answer.text

    rows = list(OutboxEvent.objects.filter(id__gt=before).order_by("id"))
    assert rows, "the payment wrote no event"
    assert all(len(row.traceparent) == 55 for row in rows), [row.traceparent for row in rows]
    trace_id = rows[0].traceparent.split("-")[1]
    assert {row.traceparent.split("-")[1] for row in rows} == {trace_id}

    # The relay in a process of its own, as it runs in production.
    env = {**os.environ, **traced, "DATABASE_URL": database_url_of(connection.settings_dict)}
    relay = subprocess.run(
        [sys.executable, "manage.py", "outbox_relay", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert relay.returncode == 0, relay.stderr[-3000:]
    row = OutboxEvent.objects.get(pk=rows[0].pk)
    assert row.published_at is not None, row.last_error
    headers = _kafka_headers(kafka_brokers, row)
    assert headers["traceparent"].split("-")[1] == trace_id

    # The merchant's webhook, delivered from here (tracing off in this process):
    # the stored trace goes on as it is.
    webhooks_fan_out()
    for delivery_id in WebhookDelivery.objects.filter(outbox_event__in=rows).values_list("id", flat=True):
        webhook_delivery_send(delivery_id=delivery_id)
    receiver.close()
    assert receiver.requests, "no webhook was delivered"
    assert {request["headers"]["traceparent"].split("-")[1] for request in receiver.requests} == {trace_id}

    def complete(spans):
        names = {span["operationName"] for span in spans}
        return "payment-events publish" in names and any(
            span["tags"].get("span.kind") == "server" for span in spans
        )

    spans = _trace(trace_id, wanted=complete)
    names = sorted({span["operationName"] for span in spans})
    assert spans, f"Jaeger has no trace {trace_id}"
    (server_span,) = [span for span in spans if span["tags"].get("span.kind") == "server"]
    assert "payments/process" in server_span["operationName"], names
    sql = [span for span in spans if str(span["tags"].get("db.system", "")).startswith("mysql")]
    assert any("INSERT" in str(span["tags"].get("db.statement", "")) for span in sql), names
    psp = [
        span
        for span in spans
        if span["tags"].get("span.kind") == "client" and "8420" in json.dumps(span["tags"])
    ]
    assert psp, f"no PSP call in {names}"
    assert "outbox record" in names
    (publish, *_) = [span for span in spans if span["operationName"] == "payment-events publish"]
    assert publish["tags"].get("span.kind") == "producer"
    # The Kafka header names the relay's span: the consumer's parent.
    assert headers["traceparent"].split("-")[2] == publish["spanID"]
    # No parameter of any statement, no card number, no key.
    recorded = json.dumps(spans)
    assert "4242424242424242" not in recorded and merchant.raw_key not in recorded
    assert not any("db.statement.parameters" in span["tags"] for span in spans)
