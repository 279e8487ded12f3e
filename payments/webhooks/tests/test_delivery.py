"""Deliveries end to end in-process: fan-out from the outbox, signatures,
retries on the schedule, endpoint backoff, disabling, rotation."""

from __future__ import annotations

import json
import logging

import pytest
import standardwebhooks
from django.db import transaction

from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_record
from gateway.events.signals import outbox_committed
from payments.tests.factories import ApiClientFactory
from payments.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.services import (
    webhook_endpoint_rotate_secret,
    webhook_event_matches,
    webhooks_fan_out,
    webhooks_sweep,
)

pytestmark = [pytest.mark.fast, pytest.mark.django_db]


@pytest.mark.reliability(
    "Merchant integration",
    "A webhook carries the Kafka message's id and bytes, signed per Standard Webhooks (verified with the "
    "standardwebhooks library); nothing for a rolled-back change",
)
def test_a_committed_event_reaches_the_endpoint_signed_with_the_kafka_body_and_id(
    receiver, endpoint_for, commit_event
):
    client = ApiClientFactory()
    endpoint = endpoint_for(client, receiver.url)

    row = commit_event(client)

    [request] = receiver.requests
    body, headers = request["body"], request["headers"]
    assert body == json.dumps(row.payload, separators=(",", ":")).encode()  # as gateway.events.outbox._send
    assert headers["webhook-id"] == str(row.event_id)
    assert headers["content-type"] == "application/json"
    verified = standardwebhooks.Webhook(endpoint.secret).verify(body, headers)
    assert verified["id"] == str(row.event_id)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )
    assert OutboxEvent.objects.get(pk=row.pk).fanned_out_at is not None


def test_the_secret_is_standard_webhooks_shaped():
    from payments.webhooks.signing import webhook_secret_new

    secret = webhook_secret_new()
    assert secret.startswith("whsec_")
    import base64

    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_outbox_record_commits_ask_for_the_fan_out(
    receiver, endpoint_for, django_capture_on_commit_callbacks
):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    import uuid

    event_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_record(
            event_id=event_id,
            event_type="refund.succeeded",
            aggregate_type="payment",
            aggregate_id="pay_rec",
            topics=["payment-events"],
            payload={"id": str(event_id), "type": "refund.succeeded", "payment": {"client_id": client.pk}},
        )

    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [str(event_id)]


@pytest.mark.reliability(
    "Merchant integration",
    "A webhook carries the Kafka message's id and bytes, signed per Standard Webhooks (verified with the "
    "standardwebhooks library); nothing for a rolled-back change",
)
def test_nothing_is_delivered_for_a_rolled_back_change(
    receiver, endpoint_for, django_capture_on_commit_callbacks
):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    import uuid

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        outbox_record(
            event_id=uuid.uuid4(),
            event_type="payment.succeeded",
            aggregate_type="payment",
            aggregate_id="pay_rb",
            topics=["payment-events"],
            payload={"type": "payment.succeeded", "payment": {"client_id": client.pk}},
        )
        raise RuntimeError("the change fails")
    webhooks_sweep()

    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.reliability(
    "Merchant integration",
    "A receiver failing twice gets three attempts on WEBHOOK_RETRY_SCHEDULE; a dead receiver delays neither "
    "Kafka nor another merchant",
)
def test_a_receiver_that_fails_twice_then_succeeds_gets_three_attempts_on_the_schedule(
    receiver, endpoint_for, commit_event, clock
):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    receiver.answers = [500, 503]

    commit_event(client)  # attempt 1: 500
    clock.advance(4)
    webhooks_sweep()  # not due yet (schedule: 5 s, then 300 s)
    assert len(receiver.requests) == 1
    clock.advance(1)
    webhooks_sweep()  # attempt 2: 503
    clock.advance(299)
    webhooks_sweep()
    assert len(receiver.requests) == 2
    clock.advance(1)
    webhooks_sweep()  # attempt 3: 200

    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 3
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # one event, three attempts
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    assert [a["status_code"] for a in delivery.attempt_history] == [500, 503, 200]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.failing_since is None and endpoint.backoff_until is None


def test_after_the_last_attempt_the_delivery_is_failed(receiver, endpoint_for, commit_event, clock):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    receiver.answers = [500, 500, 500, 500]

    commit_event(client)
    for step in (5, 300, 1000):
        clock.advance(step)
        webhooks_sweep()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 3, None)
    assert delivery.last_error == "HTTP 500"


def test_a_failing_endpoint_backs_off_and_costs_one_attempt_per_retry(
    receiver, endpoint_for, commit_event, clock
):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    receiver.answers = [500] * 10

    first = commit_event(client)
    commit_event(client)
    commit_event(client)
    for _ in range(3):
        webhooks_sweep()

    assert len(receiver.requests) == 1  # the others wait for the first one's retry
    clock.advance(5)
    webhooks_sweep()
    # The retry of the oldest failing delivery probes the endpoint; still one at a time.
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [str(first.event_id)] * 2
    receiver.answers = []
    clock.advance(300)
    webhooks_sweep()
    assert len(receiver.requests) == 5  # it answers again: the backlog flows, oldest first
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}


@pytest.mark.reliability(
    "Merchant integration",
    "A receiver failing twice gets three attempts on WEBHOOK_RETRY_SCHEDULE; a dead receiver delays neither "
    "Kafka nor another merchant",
)
def test_a_dead_endpoint_does_not_hold_up_another_clients_endpoint(
    receiver, endpoint_for, commit_event, closed_port
):
    dead_client, live_client = ApiClientFactory(name="dead"), ApiClientFactory(name="live")
    endpoint_for(dead_client, f"http://127.0.0.1:{closed_port}/hooks")
    endpoint_for(live_client, receiver.url)

    commit_event(dead_client, payment_id="pay_dead")
    commit_event(live_client, payment_id="pay_live")

    assert len(receiver.requests) == 1
    dead = WebhookDelivery.objects.get(endpoint__client=dead_client)
    assert dead.status == DeliveryStatus.PENDING and "connection" in dead.last_error


@pytest.mark.reliability(
    "Merchant integration",
    "Webhook URLs are SSRF-safe: link-local always refused, private and http refused in production, the "
    "connection goes to the address checked (DNS rebinding), redirects not followed",
)
def test_a_redirect_is_a_failure_and_is_not_followed(receiver, endpoint_for, commit_event):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    receiver.answers = [302]
    receiver.redirect_to = receiver.url.replace("/hooks", "/followed")

    commit_event(client)

    assert [r["path"] for r in receiver.requests] == ["/hooks"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert "redirect" in delivery.last_error


def test_only_subscribed_event_types_are_delivered(receiver, endpoint_for, commit_event):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url, events=["payment.succeeded", "refund.*"])

    commit_event(client, "payment.created")
    commit_event(client, "payment.succeeded")
    commit_event(client, "refund.failed")
    commit_event(client, "otp.sent")

    assert [json.loads(r["body"])["type"] for r in receiver.requests] == [
        "payment.succeeded",
        "refund.failed",
    ]


def test_event_patterns_match_exact_types_prefixes_and_everything():
    assert webhook_event_matches(["*"], "otp.sent")
    assert webhook_event_matches(["payment.succeeded"], "payment.succeeded")
    assert not webhook_event_matches(["payment.succeeded"], "payment.failed")
    assert webhook_event_matches(["refund.*"], "refund.created")
    assert not webhook_event_matches(["refund.*"], "refunds.created")
    assert not webhook_event_matches(["pay.*"], "payment.created")


def test_another_clients_events_never_reach_an_endpoint(receiver, endpoint_for, commit_event):
    mine, theirs = ApiClientFactory(name="mine"), ApiClientFactory(name="theirs")
    endpoint_for(mine, receiver.url)

    commit_event(theirs)

    assert receiver.requests == []
    assert WebhookDelivery.objects.count() == 0


def test_events_from_before_an_endpoint_existed_are_not_sent_to_it(
    receiver, webhook_settings, commit_event, endpoint_for, clock
):
    client = ApiClientFactory()
    commit_event(client)  # nobody subscribed: the sweeper only marks it
    webhooks_sweep()
    clock.advance(1)
    endpoint_for(client, receiver.url)
    OutboxEvent.objects.update(fanned_out_at=None)  # even if it were fanned out again

    webhooks_fan_out()

    assert WebhookDelivery.objects.count() == 0


def test_the_sweeper_fans_out_what_the_after_commit_task_missed(
    receiver, endpoint_for, commit_event, monkeypatch
):
    client = ApiClientFactory()
    endpoint_for(client, receiver.url)
    with monkeypatch.context() as patch:
        patch.setattr(outbox_committed, "receivers", [])  # as if the broker had been down
        commit_event(client)
    assert receiver.requests == []

    webhooks_sweep()

    assert len(receiver.requests) == 1


def test_a_failing_receiver_of_the_signal_never_fails_the_commit(commit_event, monkeypatch, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    outbox_committed.connect(broken, dispatch_uid="test-broken")
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.events"):
            row = commit_event(ApiClientFactory())
    finally:
        outbox_committed.disconnect(dispatch_uid="test-broken")
    assert OutboxEvent.objects.filter(pk=row.pk).exists()
    assert "outbox_committed" in caplog.text


def test_after_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one(
    receiver, endpoint_for, commit_event
):
    client = ApiClientFactory()
    endpoint = endpoint_for(client, receiver.url)
    old_secret = endpoint.secret
    rotated = webhook_endpoint_rotate_secret(endpoint=endpoint)
    assert rotated.secret != old_secret

    commit_event(client)
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, rotated.secret):
        standardwebhooks.Webhook(secret).verify(request["body"], request["headers"])

    # 24 hours later (the expiry moved back instead of the clock: the library checks the real time).
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=rotated.created_at)
    commit_event(client)
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 1
    standardwebhooks.Webhook(rotated.secret).verify(request["body"], request["headers"])
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old_secret).verify(request["body"], request["headers"])


def test_an_endpoint_failing_for_the_configured_hours_is_disabled_with_an_event(
    receiver, endpoint_for, commit_event, clock, webhook_settings, caplog
):
    webhook_settings.WEBHOOK_DISABLE_AFTER_HOURS = 2
    client = ApiClientFactory()
    endpoint = endpoint_for(client, receiver.url)
    receiver.answers = [500] * 10

    commit_event(client)
    clock.advance(3600)
    webhooks_sweep()  # a retry fails an hour in: still enabled
    assert WebhookEndpoint.objects.get().status == EndpointStatus.ENABLED
    clock.advance(3600)
    with caplog.at_level(logging.WARNING, logger="payments.webhooks"):
        webhooks_sweep()

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.status == EndpointStatus.DISABLED and endpoint.disabled_at == clock.now()
    event = OutboxEvent.objects.get(type="webhook_endpoint.disabled")
    assert (event.aggregate_type, event.aggregate_id, event.topics) == (
        "webhook_endpoint",
        endpoint.public_id,
        ["payment-events"],
    )
    assert event.payload["webhook_endpoint"]["id"] == endpoint.public_id
    assert f"Webhook endpoint {endpoint.public_id}" in caplog.text and "disabled" in caplog.text
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists()
    sent = len(receiver.requests)
    commit_event(client)
    webhooks_sweep()
    assert len(receiver.requests) == sent  # nothing more to a disabled endpoint
