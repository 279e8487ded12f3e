"""OpenTelemetry (gateway.core.tracing): off by default, costing nothing; on, one
trace from the request through the outbox to the Kafka message and the
merchant's webhook, with no secret in any span. In-memory exporter, SQLite, the
fake PSP. The whole trace as a real receiver keeps it: scenarios/test_tracing_jaeger.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import override_settings

from conftest import ROOT
from gateway.celery import app
from gateway.core import tracing
from gateway.core.tests import tracing_fixtures
from gateway.events.models import OutboxEvent
from gateway.events.outbox import _send
from payments import hosted_page
from payments.tests.fixtures import card

spans = tracing_fixtures.spans  # tracing on, into memory (a module-scoped fixture)

pytestmark = [pytest.mark.fast, pytest.mark.django_db]

CARD_NUMBER = "4000056655665556"
CARD_IN_A_MESSAGE = "4242424242424242"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class _Producer:
    """Stands in for kafka-python's producer: keeps what it was asked to send."""

    def __init__(self):
        self.sent = []

    def send(self, topic, *, key, value, headers):
        self.sent.append({"topic": topic, "key": key, "value": value, "headers": dict(headers)})


def _trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1]


# --- off (the default) ----------------------------------------------------------------


def test_tracing_is_off_unless_an_otlp_endpoint_is_set(settings):
    assert settings.TRACING_ENABLED is bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    with override_settings(TRACING_ENABLED=False):
        assert tracing.tracing_configure() is False
        assert tracing.tracing_traceparent() == ""
        with tracing.tracing_span("outbox record") as traceparent:
            assert traceparent == ""


def test_off_a_payment_records_no_traceparent_and_the_relay_adds_no_header(fake_pay, settings):
    settings.TRACING_ENABLED = False
    answer = fake_pay(card=card(number=CARD_NUMBER))
    assert answer.status_code in (200, 201), answer.json()

    rows = list(OutboxEvent.objects.all())
    assert rows and {row.traceparent for row in rows} == {""}
    producer = _Producer()
    _send(producer, rows[0], "payment-events")
    assert set(producer.sent[0]["headers"]) == {"event_type", "event_id", "version"}


def test_off_a_row_written_with_tracing_on_elsewhere_keeps_its_trace_in_the_message(settings):
    """The web process traced, this relay does not: the stored trace goes on as it is."""
    settings.TRACING_ENABLED = False
    row = OutboxEvent(type="payment.created", aggregate_type="payment", aggregate_id="pay_1", payload={})
    row.traceparent = TRACEPARENT
    producer = _Producer()
    _send(producer, row, "payment-events")
    assert producer.sent[0]["headers"]["traceparent"] == TRACEPARENT.encode()


def test_off_nothing_of_opentelemetry_is_imported_by_a_served_request():
    """A fresh process: the WSGI application built, a request served, an event
    sent: no opentelemetry module loaded (tracing off costs no import)."""
    script = (
        "import sys, gateway.wsgi\n"
        "from django.test import Client\n"
        "Client().get('/api/v1/payments/pay_none')\n"
        "from gateway.events.models import OutboxEvent\n"
        "from gateway.events.outbox import _send\n"
        "class P:\n"
        "    def send(self, *a, **k): pass\n"
        "_send(P(), OutboxEvent(aggregate_id='pay_1', payload={}), 'payment-events')\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DJANGO_DEBUG="true", DJSTRIPE_MIRROR="off")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "KAFKA_BROKERS", "REQUIRE_SERVICES"):
        env.pop(name, None)
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"


# --- on -------------------------------------------------------------------------------


@pytest.fixture
def traced(spans, settings):
    settings.TRACING_ENABLED = True
    spans.clear()
    return spans


def test_on_the_outbox_row_carries_the_trace_of_its_request(traced, fake_pay):
    answer = fake_pay(card=card(number=CARD_NUMBER))
    assert answer.status_code in (200, 201), answer.json()

    finished = traced.get_finished_spans()
    (server,) = [span for span in finished if span.kind.name == "SERVER"]
    records = [span for span in finished if span.name == "outbox record"]
    rows = list(OutboxEvent.objects.order_by("id"))
    assert rows and len(records) == len(rows)
    trace_id = f"{server.context.trace_id:032x}"
    for row, record in zip(rows, records, strict=True):
        assert _trace_id(row.traceparent) == trace_id
        # The row keeps the outbox span's own context: the relay's span becomes its child.
        assert row.traceparent.split("-")[2] == f"{record.context.span_id:016x}"
        assert record.parent is not None and record.context.trace_id == server.context.trace_id


def test_on_the_relay_continues_the_stored_trace_into_the_kafka_headers(traced):
    row = OutboxEvent(type="payment.created", aggregate_type="payment", aggregate_id="pay_1", payload={})
    row.traceparent = TRACEPARENT
    producer = _Producer()
    _send(producer, row, "payment-events")

    (relay,) = [span for span in traced.get_finished_spans() if span.name == "payment-events publish"]
    assert relay.kind.name == "PRODUCER"
    assert f"{relay.context.trace_id:032x}" == _trace_id(TRACEPARENT)
    assert f"{relay.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    header = producer.sent[0]["headers"]["traceparent"].decode()
    # The message's parent is the relay's span, in the same trace.
    assert header == f"00-{_trace_id(TRACEPARENT)}-{relay.context.span_id:016x}-01"


def test_on_a_relay_task_span_is_linked_not_parent(traced):
    from opentelemetry import trace

    with trace.get_tracer("test").start_as_current_span("outbox relay task") as task:
        with tracing.tracing_continue(TRACEPARENT, "payment-events publish") as carry:
            pass
    (relay,) = [span for span in traced.get_finished_spans() if span.name == "payment-events publish"]
    assert _trace_id(carry["traceparent"]) == _trace_id(TRACEPARENT)
    assert [link.context.span_id for link in relay.links] == [task.get_span_context().span_id]


def test_on_no_card_data_key_or_query_string_reaches_a_span(traced, fake_pay, merchant, api):
    answer = fake_pay(card=card(number=CARD_NUMBER, cvc="737"))
    assert answer.status_code in (200, 201), answer.json()
    payment_id = answer.json()["transaction_id"]
    api.get(f"/api/v1/payments/{payment_id}?token=query-secret-123", HTTP_X_CARD="4111111111111111")
    api.get("/pay/page-token-secret-456?key=query-secret-789")

    finished = traced.get_finished_spans()
    assert sum(span.kind.name == "SERVER" for span in finished) == 3
    recorded = json.dumps(
        [{"name": span.name, "attributes": dict(span.attributes or {})} for span in finished], default=str
    )
    assert payment_id in recorded or "api/v1/payments" in recorded  # the spans say what was served
    for secret in (
        CARD_NUMBER,
        "737",
        merchant.raw_key,
        "query-secret",
        "page-token-secret",
        "4111111111111111",
    ):
        assert secret not in recorded, secret
    assert '"/pay/<str:token>"' in recorded  # the hosted page's path is its route


def _exported(finished) -> str:
    return json.dumps(
        [
            {
                "name": span.name,
                "attributes": dict(span.attributes or {}),
                "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
                "status": span.status.description,
            }
            for span in finished
        ],
        default=str,
    )


def test_on_an_exception_reaches_a_span_as_its_type_never_its_message(traced, client, monkeypatch):
    """Recorded by our span and by Django's instrumentation (the SDK's
    record_exception and set_status_on_exception, with the message and the
    traceback): exported, the spans name the exception's type only."""

    def lookup_fails(token):
        with tracing.tracing_span("payment lookup"):
            raise ValueError(f"no payment for card {CARD_IN_A_MESSAGE}")

    monkeypatch.setattr(hosted_page, "_payment_or_404", lookup_fails)
    client.raise_request_exception = False

    assert client.get("/pay/some-token").status_code == 500

    finished = traced.get_finished_spans()
    failed = [span for span in finished if span.name == "payment lookup" or span.kind.name == "SERVER"]
    assert len(failed) == 2
    for span in failed:
        assert span.status.status_code.name == "ERROR" and span.status.description == "ValueError"
        (event,) = [event for event in span.events if event.name == "exception"]
        assert dict(event.attributes)["exception.type"] == "ValueError"
    exported = _exported(finished)
    assert CARD_IN_A_MESSAGE not in exported
    assert "no payment for card" not in exported and "Traceback" not in exported


@app.task(name="tests.tracing_task_that_fails")
def _task_that_fails():
    raise RuntimeError(f"charge failed for {CARD_IN_A_MESSAGE}")


def test_on_a_failed_task_its_span_names_the_exception_type_only(traced):
    """Celery's instrumentation records a failure with record_exception and set_status(str(exc))."""
    assert _task_that_fails.apply(throw=False).state == "FAILURE"

    finished = traced.get_finished_spans()
    (run,) = [span for span in finished if span.name == "run/tests.tracing_task_that_fails"]
    assert run.status.description == "RuntimeError"
    assert CARD_IN_A_MESSAGE not in _exported(finished)


def test_on_an_error_text_with_no_exception_to_name_is_masked(traced):
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    with trace.get_tracer("test").start_as_current_span("an instrumentation's own text") as span:
        span.set_status(Status(StatusCode.ERROR, f"card {CARD_IN_A_MESSAGE} refused"))

    (exported,) = traced.get_finished_spans()
    assert exported.status.description == "card [REDACTED PAN] refused"


def test_celery_sets_tracing_up_in_the_process_that_runs_tasks(monkeypatch):
    """Prefork: in each pool child (worker_process_init), not in the parent
    before the fork; solo or threads: in the worker itself (worker_init)."""
    from types import SimpleNamespace

    from gateway import celery as module

    calls = []
    monkeypatch.setattr(tracing, "tracing_configure", lambda: calls.append("configured"))
    module._tracing_in_worker(sender=SimpleNamespace(pool_cls="prefork"))
    assert calls == []
    module._tracing_in_pool_child()
    assert calls == ["configured"]
    module._tracing_in_worker(sender=SimpleNamespace(pool_cls="solo"))
    assert calls == ["configured", "configured"]
