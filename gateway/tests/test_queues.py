"""Celery queues: no kind of work waits behind another. The outbox relay is
not a Celery task at all (a process per shard, woken through Redis), so an
event never waits behind a queue (a soak once left events 379 s behind
dj-stripe syncs sharing one queue; issue #16)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from django.conf import settings

from conftest import outbox_relay_running
from gateway.celery import app
from gateway.events.tasks import outbox_sweep_task
from gateway.tests.test_events import outbox_row
from otp.tasks import otp_send_task
from payments.tasks import payment_charge_task, reconcile_stuck_task
from payments.webhooks.tasks import webhook_endpoint_deliver_task, webhooks_fan_out_task, webhooks_sweep_task
from stripe_integration.mirror.tasks import djstripe_sync_pending_task, djstripe_sync_task


def _queue_of(task) -> str:
    return app.amqp.router.route({}, task.name)["queue"].name


def test_each_kind_of_work_goes_to_its_queue():
    assert _queue_of(outbox_sweep_task) == "celery"  # the safety net; the relay is a process of its own
    assert _queue_of(djstripe_sync_task) == _queue_of(djstripe_sync_pending_task) == "djstripe"
    for task in (otp_send_task, payment_charge_task, reconcile_stuck_task):
        assert _queue_of(task) == "celery"
    for task in (webhooks_fan_out_task, webhook_endpoint_deliver_task, webhooks_sweep_task):
        assert _queue_of(task) == "webhooks"


def test_a_worker_started_without_queues_consumes_all_three():
    # Anyone who runs a plain `celery -A gateway worker` runs every kind of task (the sweeper too).
    assert {queue.name for queue in app.conf.task_queues} == {"celery", "djstripe", "webhooks"}


@pytest.fixture
def own_broker():
    """A Redis database of this test's own as the broker, emptied before and after:
    no other worker of the suite sees the tasks queued here."""
    url = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_while_every_queue_is_backed_up(own_broker, kafka_brokers):
    url, broker = own_broker
    # The relay process, as the services run it; no Celery worker at all.
    with outbox_relay_running(env={"CELERY_BROKER_URL": url}):
        with app.connection_for_write(url) as connection:
            for _ in range(200):  # a backlog of mirror syncs and default work, which no worker here takes
                djstripe_sync_task.apply_async(args=[10**9], connection=connection)
                reconcile_stuck_task.apply_async(connection=connection)
        row = outbox_row(  # no request wakes the relay for it: it polls
            topic=settings.KAFKA_TOPICS["events"],
            aggregate_id=f"pay_queue_{uuid.uuid4().hex[:12]}",
            payload={"test": "queues"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row.refresh_from_db()
            if row.published_at is not None:
                break
            time.sleep(0.2)

    assert row.published_at is not None, "the relay did not publish while the queues were backed up"
    assert row.kafka_offset is not None, "a published row records where Kafka put it"
    # The other work is still waiting: the relay did not have to go through it.
    assert broker.llen("djstripe") == 200
    assert broker.llen("celery") == 200
