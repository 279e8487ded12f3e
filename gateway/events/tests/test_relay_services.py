"""The sharded relay on the real services: MariaDB's SKIP LOCKED, Redis's
wake-ups, relay processes publishing to Kafka side by side. Not `fast`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from conftest import outbox_relay_running
from gateway.events import outbox
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_record, outbox_relay
from gateway.events.tasks import outbox_sweep_task
from gateway.events.tests.kafka_reader import TopicReader
from gateway.events.wake import outbox_shard_of, outbox_wait, outbox_wake, outbox_wake_key


def _record(payment_id: str, n: int = 0) -> OutboxEvent:
    with transaction.atomic():
        return outbox_record(
            event_id=uuid.uuid4(),
            event_type="payment.created",
            aggregate_type="payment",
            aggregate_id=payment_id,
            topics=["payment-events"],
            payload={"payment_id": payment_id, "n": n},
        )


def _payment_in_shard(shard: int, shards: int, tag: str) -> str:
    for n in range(1000):
        payment_id = f"pay_{tag}_{n}_{uuid.uuid4().hex[:6]}"
        if outbox_shard_of(payment_id, shards=shards) == shard:
            return payment_id
    raise AssertionError("no id hashes to that shard")


@pytest.fixture
def nothing_pending(db):
    """Rows left by earlier tests in the kept test database would ride along."""
    OutboxEvent.objects.filter(published_at__isnull=True).delete()


def test_wake_ups_are_one_token_per_shard_and_the_relay_takes_them(redis_client, settings):
    settings.OUTBOX_SHARDS = 2
    assert outbox_wake([0, 1]) == 2
    assert outbox_wake([1, 0, 1]) == 0, "already woken: nothing more is pushed"
    assert [redis_client.llen(outbox_wake_key(s)) for s in (0, 1)] == [1, 1]

    assert outbox_wait([0, 1], timeout=0.5) == [0, 1]
    assert [redis_client.llen(outbox_wake_key(s)) for s in (0, 1)] == [0, 0]
    assert outbox_wake([1]) == 1, "taken: the next commit wakes again"

    started = time.monotonic()
    assert outbox_wait([0], timeout=0.3) == []  # not shard 1's
    assert 0.25 < time.monotonic() - started < 2, "BLPOP waited its timeout, then gave up"
    assert outbox_wait([0, 1], timeout=5) == [1]


@pytest.mark.django_db(transaction=True)
def test_skip_locked_a_second_relay_skips_held_rows_and_holds_back_their_payments_later_events(
    kafka_brokers, settings, nothing_pending
):
    settings.OUTBOX_SHARDS = 2
    reader = TopicReader(kafka_brokers, "payment-events")
    payments = [_payment_in_shard(0, 2, f"skip{n}") for n in range(5)]
    rows = [_record(p) for p in payments] + [_record(payments[0], 1)]  # the last: payments[0]'s second event
    held, release = threading.Event(), threading.Event()

    def hold_the_first_two():  # another relay, in the middle of publishing them
        try:
            with transaction.atomic():
                list(OutboxEvent.objects.select_for_update().filter(pk__in=[rows[0].pk, rows[1].pk]))
                held.set()
                release.wait(30)
        finally:
            close_old_connections()

    holder = threading.Thread(target=hold_the_first_two)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        result = outbox_relay(shard=0)
        seconds = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)

    assert seconds < 5, "it did not wait for the other relay's locks (innodb_lock_wait_timeout is 50 s)"
    assert (result.published, result.held_back) == (
        3,
        1,
    )  # rows 2-4; payments[0]'s second waits for its first
    assert outbox_relay(shard=0).published == 3
    messages = reader.read(expect=6, timeout=20)
    reader.close()
    by_id = [dict(m.headers)["event_id"].decode() for m in messages if m.key.decode() in payments]
    assert sorted(by_id) == sorted(str(r.event_id) for r in rows), "each once"
    first = [json.loads(m.value)["n"] for m in messages if m.key.decode() == payments[0]]
    assert first == [0, 1], "payments[0]'s events in order"


def _written_an_hour_ago(*rows: OutboxEvent) -> None:
    ago = timezone.now() - timedelta(hours=1)
    OutboxEvent.objects.filter(pk__in=[row.pk for row in rows]).update(created_at=ago)


def _payment_events(messages, payment_id: str) -> list[int]:
    return [json.loads(m.value)["n"] for m in messages if m.key.decode() == payment_id]


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_skips_a_row_a_relay_holds_without_waiting_and_keeps_its_payments_order(
    kafka_brokers, redis_client, nothing_pending
):
    reader = TopicReader(kafka_brokers, "payment-events")
    held_payment, other = f"pay_swh_{uuid.uuid4().hex[:8]}", f"pay_swo_{uuid.uuid4().hex[:8]}"
    rows = [_record(held_payment, 0), _record(held_payment, 1), _record(other, 0)]
    _written_an_hour_ago(*rows)
    held, release = threading.Event(), threading.Event()

    def a_relay_holds_the_first():  # on another connection, in the middle of publishing it
        try:
            with transaction.atomic():
                list(OutboxEvent.objects.select_for_update().filter(pk=rows[0].pk))
                held.set()
                release.wait(30)
        finally:
            close_old_connections()

    holder = threading.Thread(target=a_relay_holds_the_first)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        swept = outbox_sweep_task()
        seconds = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)

    assert seconds < 5, "it did not wait for the relay's lock (innodb_lock_wait_timeout is 50 s)"
    assert swept == 1, "the other payment's row; the held payment's second event waits for its first"
    assert outbox_sweep_task() == 2, "released: both, in order"
    messages = reader.read(expect=3, timeout=20)
    reader.close()
    assert _payment_events(messages, held_payment) == [0, 1]
    assert _payment_events(messages, other) == [0]


@pytest.mark.django_db(transaction=True)
def test_while_the_sweeper_publishes_an_old_event_the_relay_holds_back_the_payments_new_one_and_is_woken(
    kafka_brokers, redis_client, settings, monkeypatch, nothing_pending
):
    """The sweeper takes the old row and nothing young: the relay goes on with
    its shard, holds the payment's new event back, and the sweeper's commit
    wakes it (not its next poll)."""
    settings.OUTBOX_SHARDS = 1
    reader = TopicReader(kafka_brokers, "payment-events")
    late, fresh = f"pay_late_{uuid.uuid4().hex[:8]}", f"pay_fresh_{uuid.uuid4().hex[:8]}"
    old = _record(late, 0)
    _written_an_hour_ago(old)
    _record(late, 1)
    _record(fresh, 0)
    outbox_wait([0], timeout=0)  # the wake-ups of those commits: taken, as a relay would
    publishing, release = threading.Event(), threading.Event()
    real = outbox._publish_in_rounds

    def the_sweeper_pauses_while_it_publishes(rows):
        if threading.current_thread().name == "sweeper":
            publishing.set()
            release.wait(30)
        return real(rows)

    monkeypatch.setattr(outbox, "_publish_in_rounds", the_sweeper_pauses_while_it_publishes)
    swept = []

    def sweep():
        try:
            swept.append(outbox_sweep_task())
        finally:
            close_old_connections()

    sweeper = threading.Thread(target=sweep, name="sweeper")
    sweeper.start()
    try:
        assert publishing.wait(10)
        relayed = outbox_relay(shard=0)
    finally:
        release.set()
        sweeper.join(30)

    assert (relayed.published, relayed.held_back) == (1, 1), "the fresh payment's; the late one's new waits"
    assert swept == [1]
    assert outbox_wait([0], timeout=0) == [0], "the sweeper's commit woke the relay"
    assert outbox_relay(shard=0).published == 1
    messages = reader.read(expect=3, timeout=20)
    reader.close()
    assert _payment_events(messages, late) == [0, 1]


@pytest.mark.django_db(transaction=True)
def test_relay_processes_of_two_shards_and_a_second_of_one_publish_each_event_once_in_order(
    kafka_brokers, redis_client, settings, nothing_pending
):
    """Three relay processes (shard 0, shard 1, and shard 0 again, as in a
    rolling deploy) while 40 payments write 5 events each, interleaved."""
    settings.OUTBOX_SHARDS = 2
    env = {"OUTBOX_SHARDS": "2", "OUTBOX_RELAY_BATCH": "7"}  # small batches: many rounds, many races
    reader = TopicReader(kafka_brokers, "payment-events")
    payments = [f"pay_race_{n}_{uuid.uuid4().hex[:8]}" for n in range(40)]
    assert {outbox_shard_of(p) for p in payments} == {0, 1}
    with (
        outbox_relay_running(shards=(0,), env=env),
        outbox_relay_running(shards=(1,), env=env),
        outbox_relay_running(shards=(0,), env=env),
    ):
        for n in range(5):
            for payment_id in payments:
                _record(payment_id, n)
                outbox_wake([outbox_shard_of(payment_id)])  # as the request does after commit
        deadline = time.monotonic() + 60
        while OutboxEvent.objects.filter(published_at__isnull=True).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    pending = OutboxEvent.objects.filter(published_at__isnull=True).count()
    messages = [m for m in reader.read(expect=200, timeout=30) if m.key.decode() in payments]
    reader.close()

    assert pending == 0
    ids = [dict(m.headers)["event_id"].decode() for m in messages]
    assert len(ids) == 200 and len(set(ids)) == 200, "every event, none twice"
    for payment_id in payments:
        assert [json.loads(m.value)["n"] for m in messages if m.key.decode() == payment_id] == [0, 1, 2, 3, 4]
    shards = set(OutboxEvent.objects.filter(aggregate_id__in=payments).values_list("shard", flat=True))
    assert shards == {0, 1}


@pytest.mark.django_db(transaction=True)
def test_a_relay_process_stops_on_sigterm_after_its_batch(settings, nothing_pending):
    assert connection.vendor == "mysql"
    with outbox_relay_running() as relay:
        time.sleep(0.5)
    assert relay.returncode == 0
