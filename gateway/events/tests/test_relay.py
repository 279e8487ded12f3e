"""The sharded relay's logic, without services: shards, order per payment
across shards and across a change of OUTBOX_SHARDS, wake-ups, the loop's stop.
(SKIP LOCKED, Redis and Kafka for real: test_relay_services.py.)"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from gateway.events import outbox, relay, wake
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_publish_deferred, outbox_record, outbox_relay
from gateway.events.relay import OutboxRelayLoop
from gateway.events.tasks import outbox_sweep_task
from gateway.events.tests.fake_kafka import FakeProducer
from gateway.events.wake import outbox_shard_of, outbox_wait, outbox_wake

pytestmark = [pytest.mark.fast, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _no_services(settings, monkeypatch):
    """The logic alone, also under `make test` (where the cache is Redis and
    Kafka is there): for real, test_relay_services.py."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    monkeypatch.setattr(relay, "kafka_producer", lambda: None)  # the loop's connect at start


@pytest.fixture
def kafka(settings, monkeypatch) -> FakeProducer:
    settings.KAFKA_BROKERS = ["fake:9092"]
    producer = FakeProducer()
    monkeypatch.setattr(outbox, "kafka_producer", lambda: producer)
    monkeypatch.setattr(outbox, "kafka_producer_reset", lambda: None)
    return producer


def record(payment_id: str) -> OutboxEvent:
    return outbox_record(
        event_id=uuid.uuid4(),
        event_type="payment.created",
        aggregate_type="payment",
        aggregate_id=payment_id,
        topics=["payment-events"],
        payload={"payment_id": payment_id},
    )


def recorded_ids(payment_id: str) -> list[str]:
    rows = OutboxEvent.objects.filter(aggregate_id=payment_id).order_by("id")
    return [str(event_id) for event_id in rows.values_list("event_id", flat=True)]


def test_a_payments_shard_is_a_stable_hash_of_its_id(settings):
    # crc32, not hash(): the same in every process and every release.
    assert [outbox_shard_of("pay_abc", shards=n) for n in (1, 2, 8)] == [0, 0, 0]
    assert [outbox_shard_of("pay_1", shards=n) for n in (2, 5)] == [0, 3]
    spread = [outbox_shard_of(f"pay_{n:06d}", shards=4) for n in range(2000)]
    assert all(spread.count(shard) > 400 for shard in range(4)), "shards are about even"

    settings.OUTBOX_SHARDS = 4
    rows = [record(f"pay_{n}") for n in range(20)]
    assert [row.shard for row in rows] == [outbox_shard_of(row.aggregate_id) for row in rows]
    assert {row.shard for row in rows} == {0, 1, 2, 3}
    assert record("pay_1").shard == rows[1].shard, "every row of a payment is in one shard"


def test_a_relay_publishes_its_own_shard_only(settings, kafka):
    settings.OUTBOX_SHARDS = 2
    rows = [record(f"pay_{n}") for n in range(10)]
    mine = [str(row.event_id) for row in rows if row.shard == 1]
    assert 0 < len(mine) < 10

    result = outbox_relay(shard=1)

    assert result.published == len(mine) and result.pending == 0  # pending: of its shard
    assert kafka.event_ids() == mine
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 10 - len(mine)


def test_after_OUTBOX_SHARDS_changes_a_payments_newer_events_wait_for_its_older_ones(settings, kafka):
    settings.OUTBOX_SHARDS = 2
    first = record("pay_1")  # shard 0 of 2
    settings.OUTBOX_SHARDS = 5  # a deploy changes it while pay_1's first event waits
    later = [record("pay_1"), record("pay_1")]  # shard 3 of 5
    other = record("pay_2")
    assert (first.shard, later[0].shard) == (0, 3) and other.shard != 0

    held = outbox_relay(shard=3)

    assert "pay_1" not in [key for _t, key, _e in kafka.sent], "not before its first event"
    assert held.held_back == 2 and held.pending == 2
    outbox_relay(shard=other.shard)
    assert outbox_relay(shard=0).published == 1  # the old shard: no relay may serve it any more...
    assert outbox_relay(shard=3).published == 2  # ...then the newer ones go
    assert kafka.event_ids("pay_1") == recorded_ids("pay_1")


def test_the_sweeper_relays_every_shard_in_id_order(settings, kafka):
    for shards in (3, 1, 4):
        settings.OUTBOX_SHARDS = shards
        for n in range(6):
            record(f"pay_{n}")

    result = outbox_relay()

    assert (result.published, result.pending, result.held_back) == (18, 0, 0)
    assert kafka.event_ids() == [
        str(e) for e in OutboxEvent.objects.order_by("id").values_list("event_id", flat=True)
    ]


def _written_ago(row: OutboxEvent, seconds: float) -> None:
    OutboxEvent.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_the_sweeper_leaves_rows_younger_than_a_few_relay_polls_to_the_relays(settings, kafka):
    old, young = record("pay_old"), record("pay_young")
    _written_ago(old, 3600)

    assert outbox_sweep_task() == 1
    assert kafka.event_ids() == [str(old.event_id)]

    _written_ago(young, 3600)
    assert outbox_sweep_task() == 1, "old now, and no relay took it"


def test_publishing_a_payments_older_event_wakes_the_shard_where_its_later_ones_wait(
    settings, kafka, monkeypatch, django_capture_on_commit_callbacks
):
    woken = []
    monkeypatch.setattr(outbox, "outbox_wake", lambda shards: woken.append(sorted(shards)))
    settings.OUTBOX_SHARDS = 2
    record("pay_1")  # shard 0 of 2
    settings.OUTBOX_SHARDS = 5
    later = [record("pay_1"), record("pay_1"), record("pay_2")]  # pay_1's in shard 3 of 5

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay(shard=3).held_back == 2
    assert woken == [], "held back, nothing of pay_1 went: nothing to wake"
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay(shard=0).published == 1
    assert woken == [[3]], "pay_1's first event went: the shard of its next ones is woken"
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay(shard=3).published == 2
    assert woken == [[3]], "nothing of pay_1 waits any more"

    # The sweeper publishes an old row; the payment's young one is its relay's, woken.
    _written_ago(later[2], 3600)
    young = record("pay_2")
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_sweep_task() == 1
    assert woken[-1] == [young.shard]
    assert kafka.event_ids("pay_1") == recorded_ids("pay_1")


@pytest.mark.parametrize("seed", range(8))
def test_relays_of_every_shard_in_any_order_keep_each_payments_order_and_send_each_event_once(
    settings, kafka, seed
):
    """Three deploys with different OUTBOX_SHARDS, events of 12 payments written
    in between, and relays of every shard (and the sweeper) run in a random
    order with small batches, as they would race."""
    rng = random.Random(seed)
    payments = [f"pay_{seed}_{n}" for n in range(12)]
    for shards in (1, 3, 2):
        settings.OUTBOX_SHARDS = shards
        for _ in range(15):
            record(rng.choice(payments))

    for _ in range(500):
        if not OutboxEvent.objects.filter(published_at__isnull=True).exists():
            break
        shard = rng.choice([None, 0, 1, 2])
        outbox_relay(shard=shard, limit=rng.randint(1, 4), count_pending=False)

    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
    assert len(kafka.sent) == len(set(kafka.event_ids())) == 45
    for payment in payments:
        assert kafka.event_ids(payment) == recorded_ids(payment)


def test_a_failed_publish_sends_nothing_after_it_of_its_payment(settings, kafka):
    rows = [record("pay_down"), record("pay_down"), record("pay_up")]
    kafka.fail_keys.add("pay_down")

    result = outbox_relay(shard=0)

    assert result.error.startswith("TimeoutError") and result.published == 1  # pay_up went
    rows[0].refresh_from_db()
    assert (rows[0].attempts, rows[0].published_at) == (1, None) and "no leader" in rows[0].last_error
    assert kafka.event_ids() == [str(rows[2].event_id)]


def test_a_request_wakes_each_shard_it_wrote_once_at_its_end(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.OUTBOX_SHARDS = 5
    woken = []
    monkeypatch.setattr(outbox, "outbox_wake", lambda shards: woken.append(sorted(shards)))
    with outbox_publish_deferred():
        for payment in ("pay_1", "pay_2", "pay_1"):  # three commits, as a payment and a refund make
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                record(payment)
        assert woken == [], "not before the request is done"

    assert woken == [sorted({outbox_shard_of("pay_1"), outbox_shard_of("pay_2")})]

    with django_capture_on_commit_callbacks(execute=True):  # outside a request: at each commit
        record("pay_2")
    assert woken[-1] == [outbox_shard_of("pay_2")]


def test_without_redis_there_is_nothing_to_wake_and_the_relay_polls(settings):
    assert "locmem" in settings.CACHES["default"]["BACKEND"].lower()
    assert outbox_wake([0, 1]) == 0
    assert outbox_wait([0, 1], timeout=0) == []


def _rows_in_shard_0(count: int) -> None:
    for _ in range(count):
        record("pay_abc")  # shard 0


def test_a_step_drains_its_shard_in_batches_until_it_is_empty(settings, kafka, monkeypatch):
    settings.OUTBOX_RELAY_BATCH = 2
    _rows_in_shard_0(5)
    calls = []
    real = relay.outbox_relay
    monkeypatch.setattr(relay, "outbox_relay", lambda **kw: calls.append(kw) or real(**kw))

    step = OutboxRelayLoop(shards=[0]).step(wait=0)

    assert (step.published, step.error) == (5, "")
    assert [call["shard"] for call in calls] == [0, 0, 0]  # 2 + 2 + 1: the last batch was not full
    assert len(kafka.sent) == 5


def test_a_woken_shard_is_relayed_alone_and_a_timed_out_wait_polls_every_shard(settings, kafka, monkeypatch):
    settings.OUTBOX_SHARDS = 2
    relayed = []
    monkeypatch.setattr(
        relay, "outbox_relay", lambda **kw: relayed.append(kw["shard"]) or outbox.RelayResult(0, None)
    )
    waits = iter([[1], []])
    monkeypatch.setattr(relay, "outbox_wait", lambda shards, timeout: next(waits))
    loop = OutboxRelayLoop()

    assert loop.step(wait=1).woken == (1,)
    assert relayed == [1]
    assert loop.step(wait=1).woken == ()
    assert relayed == [1, 0, 1]


def test_a_stop_lets_the_batch_in_flight_finish_and_nothing_after(settings, kafka, monkeypatch):
    settings.OUTBOX_RELAY_BATCH = 2
    _rows_in_shard_0(6)
    loop = OutboxRelayLoop(shards=[0])
    real = relay.outbox_relay

    def relay_then_sigterm(**kw):
        result = real(**kw)
        loop.stop.set()  # SIGTERM arrives while this batch is published
        return result

    monkeypatch.setattr(relay, "outbox_relay", relay_then_sigterm)
    monkeypatch.setattr(relay, "outbox_wait", lambda shards, timeout: [0])

    loop.run()  # returns: it does not wait for another wake-up

    assert len(kafka.sent) == 2, "the batch in flight was published, no other"
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 4


def test_a_stopped_loop_does_not_wait_again(monkeypatch):
    waits = []
    monkeypatch.setattr(relay, "outbox_wait", lambda shards, timeout: waits.append(1) or [])
    loop = OutboxRelayLoop(shards=[0])
    loop.stop.set()
    loop.run()
    assert waits == []


def test_after_a_failed_publish_the_loop_backs_off(settings, kafka, monkeypatch):
    settings.OUTBOX_BACKOFF_SECONDS = 7
    record("pay_abc")
    kafka.fail_keys.add("pay_abc")
    loop = OutboxRelayLoop(shards=[0])
    pauses = []
    monkeypatch.setattr(loop.stop, "wait", lambda seconds: pauses.append(seconds))

    step = loop.step(wait=0)

    assert step.error.startswith("TimeoutError") and step.published == 0
    assert pauses == [7]


def test_the_command_refuses_a_shard_outside_OUTBOX_SHARDS(settings):
    settings.OUTBOX_SHARDS = 2
    with pytest.raises(CommandError, match="OUTBOX_SHARDS is 2"):
        call_command("outbox_relay", shard=[2])


def test_wake_keys_are_one_per_shard():
    assert wake.outbox_wake_key(3) != wake.outbox_wake_key(4)


def test_a_woken_relay_gathers_the_window_s_commits_and_a_poll_does_not_wait(settings, kafka, monkeypatch):
    settings.OUTBOX_RELAY_GATHER_MS = 40
    record("pay_abc")
    loop = OutboxRelayLoop(shards=[0])
    pauses = []
    # A commit lands while the relay gathers: the same pass publishes it.
    monkeypatch.setattr(loop.stop, "wait", lambda seconds: pauses.append(seconds) or record("pay_abc"))
    waits = iter([[0], []])
    monkeypatch.setattr(relay, "outbox_wait", lambda shards, timeout: next(waits))

    woken = loop.step(wait=1)
    polled = loop.step(wait=1)

    assert pauses == [0.04]  # once, after the wake-up; not after the timed-out wait
    assert woken.published == 2 and len(kafka.sent) == 2
    assert polled.published == 0
