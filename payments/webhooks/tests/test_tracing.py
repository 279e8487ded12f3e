"""A merchant's webhook carries the W3C trace context of the request that wrote
its event (the outbox row's traceparent): as it is, or, with tracing on here,
as the child of this delivery's span."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from gateway.core.tests import tracing_fixtures
from gateway.events.models import OutboxEvent
from gateway.events.signals import outbox_committed_send
from payments.tests.factories import ApiClientFactory
from payments.webhooks.tests.conftest import payment_payload

spans = tracing_fixtures.spans  # tracing on, into memory (a module-scoped fixture)

pytestmark = [pytest.mark.fast, pytest.mark.django_db]

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _deliver(receiver, endpoint_for, django_capture_on_commit_callbacks, traceparent: str) -> dict:
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    event_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        OutboxEvent.objects.create(
            event_id=event_id,
            type="payment.succeeded",
            aggregate_type="payment",
            aggregate_id="pay_traced",
            topics=["payment-events"],
            payload=payment_payload(
                event_id=str(event_id), event_type="payment.succeeded", client_id=client.pk
            ),
            traceparent=traceparent,
        )
        transaction.on_commit(outbox_committed_send)
    [request] = receiver.requests
    return request["headers"]


def test_off_the_webhook_carries_the_stored_traceparent_as_it_is(
    receiver, endpoint_for, django_capture_on_commit_callbacks, settings
):
    settings.TRACING_ENABLED = False
    headers = _deliver(receiver, endpoint_for, django_capture_on_commit_callbacks, TRACEPARENT)
    assert headers["traceparent"] == TRACEPARENT


def test_without_a_stored_trace_the_webhook_has_no_traceparent(
    receiver, endpoint_for, django_capture_on_commit_callbacks, settings
):
    settings.TRACING_ENABLED = False
    headers = _deliver(receiver, endpoint_for, django_capture_on_commit_callbacks, "")
    assert "traceparent" not in headers and "webhook-id" in headers


def test_on_the_webhook_is_the_child_of_its_delivery_span_in_the_same_trace(
    spans, receiver, endpoint_for, django_capture_on_commit_callbacks, settings
):
    settings.TRACING_ENABLED = True
    spans.clear()
    headers = _deliver(receiver, endpoint_for, django_capture_on_commit_callbacks, TRACEPARENT)

    (delivery,) = [span for span in spans.get_finished_spans() if span.name == "webhook deliver"]
    trace_id = TRACEPARENT.split("-")[1]
    assert f"{delivery.context.trace_id:032x}" == trace_id
    assert f"{delivery.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    assert headers["traceparent"] == f"00-{trace_id}-{delivery.context.span_id:016x}-01"
