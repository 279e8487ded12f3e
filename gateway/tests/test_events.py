"""Events reach Kafka exactly as the outbox recorded them: real broker, real consumer.

Most tests execute the after-commit callbacks (which wake the relay, through
Redis) and then run the relay loop's next step in the test's own thread, to
keep them fast and deterministic; one runs the whole path with a real relay
process, and the outage tests stop the real broker.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import jsonschema
import pytest
from django.db import transaction
from django.utils import timezone

from conftest import ROOT, outbox_relay_running, services_command
from gateway.events import outbox
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_relay
from gateway.events.relay import OutboxRelayLoop
from gateway.events.tests.kafka_reader import TopicReader
from gateway.events.wake import outbox_shard_of, outbox_wake_key
from payments.models import Payment
from payments.services.api_clients import api_client_create
from payments.services.payments import PaymentInput, payment_create
from payments.tests.fixtures import card

SCHEMA = json.loads((ROOT / "docs/events/payment-event.v1.schema.json").read_text())


def outbox_row(*, topic: str, aggregate_id: str, payload: dict) -> OutboxEvent:
    """An event written straight to the outbox, not through outbox_record:
    nothing is asked to publish it."""
    return OutboxEvent.objects.create(
        event_id=uuid.uuid4(),
        type="payment.succeeded",
        aggregate_type="payment",
        aggregate_id=aggregate_id,
        topics=[topic],
        payload=payload,
    )


@pytest.fixture
def reader(kafka_brokers, settings):
    readers = []

    def make(*topics):
        readers.append(TopicReader(kafka_brokers, *topics))
        return readers[-1]

    yield make
    for r in readers:
        r.close()


@pytest.fixture
def eager(settings, django_capture_on_commit_callbacks):
    """Celery in-process, after-commit callbacks executed at the end of each
    block (they wake the relay), then the relay's next step, here: it takes
    the wake-up and relays (the test's rows are not committed for another process)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.OUTBOX_BACKOFF_SECONDS = 0  # a failed step returns at once

    @contextlib.contextmanager
    def block():
        with django_capture_on_commit_callbacks(execute=True):
            yield
        OutboxRelayLoop().step(wait=0)

    return block


def _types(messages) -> list[str]:
    return [json.loads(m.value)["type"] for m in messages]


@pytest.mark.django_db
def test_a_successful_payment_publishes_one_payment_succeeded_on_both_topics(pay, reader, eager):
    success, events = reader("payment-success"), reader("payment-events")
    with eager():
        payment_id = pay(email="jane@example.com").json()["payment_id"]

    on_success = success.read(key=payment_id, expect=1)
    on_events = events.read(key=payment_id, expect=2)

    assert _types(on_success) == ["payment.succeeded"]
    # Charged at once: created `processing`, then settled (no separate processing event).
    assert _types(on_events) == ["payment.created", "payment.succeeded"]
    body = json.loads(on_success[0].value)
    jsonschema.validate(body, SCHEMA)
    assert body == json.loads(on_events[-1].value)  # the same event, with the same id, on both topics
    assert (body["payment"]["amount"], body["payment"]["amount_minor"]) == ("19.99", 1999)
    assert body["payment"]["status"] == "succeeded"
    headers = dict(on_success[0].headers)
    assert headers["event_type"] == b"payment.succeeded"
    assert headers["event_id"].decode() == body["id"]
    row = OutboxEvent.objects.get(event_id=body["id"])
    assert row.published_at is not None and row.kafka_offset is not None


@pytest.mark.django_db
def test_a_refund_publishes_refund_succeeded_on_payment_refunded_in_order(api, pay, reader, eager):
    refunded, events = reader("payment-refunded"), reader("payment-events")
    with eager():
        payment_id = pay().json()["payment_id"]
    with eager():
        api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json")

    on_refunded = refunded.read(key=payment_id, expect=1)
    ordered = _types(events.read(key=payment_id, expect=4))

    assert _types(on_refunded) == ["refund.succeeded"]
    body = json.loads(on_refunded[0].value)
    jsonschema.validate(body, SCHEMA)
    assert (body["refund"]["amount_minor"], body["payment"]["status"]) == (500, "partially_refunded")
    assert ordered == [
        "payment.created",
        "payment.succeeded",
        "refund.created",
        "refund.succeeded",
    ]


@pytest.mark.django_db
def test_a_decline_publishes_payment_failed(pay, reader, eager):
    failed = reader("payment-failed")
    with eager():
        payment_id = pay(card=card("4000000000000341")).json()["error"]["payment_id"]

    messages = failed.read(key=payment_id, expect=1)

    assert _types(messages) == ["payment.failed"]
    assert json.loads(messages[0].value)["payment"]["failure_code"] == "card_declined"


@pytest.mark.django_db
def test_a_rolled_back_transaction_emits_nothing(merchant, kafka_brokers, eager):
    with eager(), pytest.raises(RuntimeError), transaction.atomic():
        payment_create(
            client=merchant, data=PaymentInput(order_id="o", amount_minor=100, currency="usd"), actor="test"
        )
        assert OutboxEvent.objects.count() == 1  # written in the same transaction...
        raise RuntimeError("the change fails")

    assert OutboxEvent.objects.count() == 0  # ...and gone with it
    assert Payment.objects.count() == 0


@pytest.mark.django_db
def test_with_no_relay_running_the_events_wait_and_the_sweeper_publishes_them_once(
    pay, reader, redis_client, django_capture_on_commit_callbacks
):
    # The relay is woken through Redis, and no relay process runs here.
    events = reader("payment-events")
    with django_capture_on_commit_callbacks(execute=True):
        payment_id = pay().json()["payment_id"]
    shard = outbox_shard_of(payment_id)
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 2
    assert redis_client.llen(outbox_wake_key(shard)) == 1, "the request woke its shard's relay"

    result = outbox_relay()  # the sweeper
    late = OutboxRelayLoop().step(wait=0)  # the relay, at last: woken, nothing left

    assert (result.published, result.pending) == (2, 0)
    assert (late.woken, late.published) == ((shard,), 0)
    messages = events.read(key=payment_id, expect=2)
    assert len(messages) == 2
    assert len({json.loads(m.value)["id"] for m in messages}) == 2


@pytest.mark.django_db(transaction=True)
def test_a_relay_process_publishes_after_commit_and_stops_on_sigterm(
    kafka_brokers, localstripe, redis_client
):
    from rest_framework.test import APIClient

    from payments.tests.fixtures import payment_body

    success = TopicReader(kafka_brokers, "payment-success")
    client, raw_key = api_client_create(name="relay-test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    try:
        with outbox_relay_running() as relay:
            started = time.monotonic()
            payment_id = api.post("/api/v1/payments/process", payment_body(), format="json").json()[
                "payment_id"
            ]
            messages = success.read(key=payment_id, expect=1, timeout=30)
            seconds = time.monotonic() - started
    finally:
        success.close()

    assert _types(messages) == ["payment.succeeded"]
    assert seconds < 5, f"published {seconds:.1f} s after the request (no Celery task, no sweeper)"
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    assert relay.returncode == 0, "SIGTERM: the relay finished its batch and exited cleanly"


@pytest.mark.reliability(
    "Faults",
    "Kafka stopped: payments succeed, the outbox keeps every event, all published once after",
)
@pytest.mark.django_db
def test_with_kafka_stopped_payments_still_succeed_and_the_sweeper_publishes_all_of_them_once(
    pay, reader, settings, django_capture_on_commit_callbacks
):
    settings.KAFKA_REQUEST_TIMEOUT_MS = 1500
    settings.OUTBOX_BACKOFF_SECONDS = 0
    services_command("kafka-stop")
    try:
        statuses = []
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(50):
                statuses.append(pay(order_id=f"outage_{n}").status_code)
        failed = OutboxRelayLoop().step(wait=0)  # woken, it tries, and backs off
        waiting = OutboxEvent.objects.filter(published_at__isnull=True, type="payment.succeeded").count()
    finally:
        services_command("kafka-start")
    # Read from after the restart: a consumer that lived through the outage
    # may still be in its reconnect backoff, which is not what this tests.
    success = reader("payment-success")

    assert statuses == [201] * 50
    assert failed.woken and failed.error and failed.published == 0
    assert waiting == 50
    assert OutboxEvent.objects.filter(published_at__isnull=True).exclude(last_error="").exists()
    result = outbox_relay()  # the sweeper, after the broker is back
    for _ in range(10):  # the restarted broker may need a moment for its partition leaders
        if result.pending == 0:
            break
        time.sleep(1)
        result = outbox_relay()

    assert result.pending == 0
    messages = success.read(expect=50, timeout=30)
    ids = [json.loads(m.value)["id"] for m in messages]
    assert len(ids) == 50 and len(set(ids)) == 50  # all of them, none twice


@pytest.mark.reliability(
    "Security",
    "Card data: none in the database, logs, responses or events; the scanner finds what it must",
)
@pytest.mark.django_db
def test_no_card_data_otp_or_email_in_any_event(pay, eager, api):
    with eager():
        pay(email="jane.doe@example.com", card=card("4242424242424242", cvc="987"))
        held = pay(email="jane.doe@example.com", require_otp=True).json()["payment_id"]
        pay(email="jane.doe@example.com", card=card("4000000000000341", cvc="987"))
        api.post(f"/api/v1/payments/{held}/cancel", format="json")

    payloads = json.dumps(list(OutboxEvent.objects.values_list("payload", flat=True)))
    assert OutboxEvent.objects.count() >= 7  # 2 + 2 for the charged ones, 3+ for the held then canceled one
    for secret in ("4242424242424242", "4000000000000341", "jane.doe", "example.com", "cvc", '"otp"'):
        assert secret not in payloads


@pytest.mark.django_db(transaction=True)  # real commits, inside the request, as in production
def test_a_payment_request_wakes_its_relay_once_for_its_two_commits(pay, reader, redis_client, monkeypatch):
    """A payment commits when it is recorded and again when it is settled; the
    request wakes its shard's relay once, at its end (outbox_publish_deferred),
    with one Redis command and no Celery message, and both events still reach
    Kafka in order."""
    calls = []
    real_wake = outbox.outbox_wake
    monkeypatch.setattr(
        outbox, "outbox_wake", lambda shards: calls.append(sorted(shards)) or real_wake(shards)
    )
    events = reader("payment-events")

    payment_id = pay().json()["payment_id"]
    shard = outbox_shard_of(payment_id)

    assert OutboxEvent.objects.filter(aggregate_id=payment_id).count() == 2
    assert calls == [[shard]]
    assert redis_client.llen(outbox_wake_key(shard)) == 1
    assert outbox.outbox_wake([shard]) == 0, "a relay already woken is not woken twice"
    step = OutboxRelayLoop().step(wait=0.5)
    assert (step.woken, step.published) == ((shard,), 2)
    assert redis_client.llen(outbox_wake_key(shard)) == 0, "the relay took the wake-up"
    assert _types(events.read(key=payment_id, expect=2)) == ["payment.created", "payment.succeeded"]


@pytest.mark.django_db(transaction=True)
def test_events_consume_prints_each_event_id_once_when_the_topic_holds_it_twice(
    kafka_brokers, settings, capsys
):
    """The relay is at-least-once: a relay killed between Kafka's ack and its
    commit publishes a row again. Consumers deduplicate by the event_id header,
    as events_consume does."""
    from io import StringIO

    from django.core.management import call_command

    from gateway.events.outbox import outbox_relay, outbox_replay

    topic = settings.KAFKA_TOPICS["events"]
    reader = TopicReader(kafka_brokers, topic)
    start = ",".join(f"{p.partition}:{o}" for p, o in reader.start.items())
    row = outbox_row(topic=topic, aggregate_id=f"pay_dupe_{uuid.uuid4().hex[:10]}", payload={"dupe": True})
    OutboxEvent.objects.exclude(pk=row.pk).filter(published_at__isnull=True).update(
        published_at=timezone.now()
    )
    assert outbox_relay().published == 1
    outbox_replay(payment_id=row.aggregate_id)  # the same event id, published again
    try:
        copies = reader.read(key=row.aggregate_id, expect=2, timeout=20)
    finally:
        reader.close()
    assert len(copies) == 2, "the topic holds the event twice"

    out, err = StringIO(), StringIO()
    call_command("events_consume", topic=topic, from_offsets=start, idle_seconds=3, stdout=out, stderr=err)

    printed = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    ours = [p for p in printed if p["key"] == row.aggregate_id]
    assert [p["headers"]["event_id"] for p in ours] == [str(row.event_id)]
    assert "duplicate(s) by event id" in err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_each_published_row_keeps_the_partition_and_offset_of_its_own_message(
    kafka_brokers, settings, monkeypatch
):
    """The relay marks a round's rows in one UPDATE (a CASE per column), in
    chunks: each row must still get its own message's place in Kafka, and one
    more attempt."""
    from gateway.events import outbox

    monkeypatch.setattr(outbox, "_MARK_CHUNK", 5)  # 12 rows: three statements
    topic = settings.KAFKA_TOPICS["events"]
    reader = TopicReader(kafka_brokers, topic)
    OutboxEvent.objects.filter(published_at__isnull=True).update(published_at=timezone.now())
    rows = [
        outbox_row(topic=topic, aggregate_id=f"pay_case_{uuid.uuid4().hex[:10]}", payload={"n": n})
        for n in range(12)
    ]
    OutboxEvent.objects.filter(pk=rows[0].pk).update(attempts=2, last_error="KafkaTimeoutError: earlier")

    assert outbox_relay().published == 12

    messages = {str(uuid.UUID(dict(m.headers)["event_id"].decode())): m for m in reader.read(expect=12)}
    for row in OutboxEvent.objects.filter(pk__in=[r.pk for r in rows]):
        message = messages[str(row.event_id)]
        assert (row.kafka_partition, row.kafka_offset) == (message.partition, message.offset)
        assert row.published_at is not None and row.last_error == ""
        assert row.attempts == (3 if row.pk == rows[0].pk else 1)
    reader.close()
