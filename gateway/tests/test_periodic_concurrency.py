"""Periodic tasks under concurrency (issue #17): two beats, or a run that
outlasts its interval, must never do the work twice.

Two layers, each tested: a lock in Redis keeps a second run from starting
(gateway.core.periodic), and beneath it each task is safe to run twice at once,
which is tested here with the lock out of the way, by starting two runs
together from two threads on the real MariaDB, Redis, Kafka and localstripe.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from gateway.core.periodic import periodic_run_lock
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_relay
from gateway.events.tasks import outbox_sweep_task
from gateway.events.tests.kafka_reader import TopicReader
from gateway.tests.test_events import outbox_row
from otp.services import otp_expire_payments
from otp.tasks import otp_expire_payments_task
from payments.enums import PaymentStatus
from payments.models import Payment, PaymentEvent
from payments.services.reconcile import reconcile_stuck
from payments.tasks import reconcile_stuck_task

pytestmark = pytest.mark.django_db(transaction=True)


def _together(function, runs: int = 2) -> list:
    """Starts `runs` calls of function at the same moment, each on its own thread
    and database connection; returns their results."""
    barrier = threading.Barrier(runs)
    results, errors = [None] * runs, []

    def run(n):
        try:
            barrier.wait(timeout=10)
            results[n] = function()
        except Exception as exc:  # reported below, with the thread's result
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("outbox-sweep", outbox_sweep_task),
        ("stripe-reconcile-stuck", reconcile_stuck_task),
        ("otp-expire-payments", otp_expire_payments_task),
    ],
)
def test_a_periodic_task_does_nothing_while_another_run_holds_its_lock(name, task, redis_client):
    with periodic_run_lock(name, ttl_seconds=60) as held:
        assert held
        assert task() is None
        with periodic_run_lock(name, ttl_seconds=60) as second:
            assert not second
    assert task() is not None, "the lock is released when the run ends"


def test_two_sweeps_at_once_publish_each_event_once(kafka_brokers):
    topic = settings.KAFKA_TOPICS["events"]
    reader = TopicReader(kafka_brokers, topic)
    OutboxEvent.objects.filter(published_at__isnull=True).update(published_at=timezone.now())
    ids = set()
    for n in range(60):
        row = outbox_row(
            topic=topic, aggregate_id=f"pay_sweep_{n % 7}_{uuid.uuid4().hex[:6]}", payload={"n": n}
        )
        ids.add(str(row.event_id))
    try:
        results = _together(lambda: outbox_relay().published)
        messages = [
            m
            for m in reader.read(expect=60, timeout=20)
            if dict(m.headers).get("event_id", b"").decode() in ids
        ]
    finally:
        reader.close()

    assert sum(results) == 60, f"the two sweeps published {results}"
    assert sorted(dict(m.headers)["event_id"].decode() for m in messages) == sorted(ids), "each event once"
    assert not OutboxEvent.objects.filter(event_id__in=ids, published_at__isnull=True).exists()


def _stuck_payments(pay, count: int) -> list[Payment]:
    """Payments charged at the PSP that the gateway still shows as processing,
    untouched for longer than RECONCILE_AFTER_MINUTES (their answer was lost)."""
    payments = []
    for _ in range(count):
        body = pay(order_id=f"stuck-{uuid.uuid4().hex[:10]}", payment_method="pm_card_visa", card=None).json()
        payment = Payment.objects.get(public_id=body["payment_id"])
        assert payment.status == PaymentStatus.SUCCEEDED
        Payment.objects.filter(pk=payment.pk).update(
            status=PaymentStatus.PROCESSING,
            updated_at=timezone.now() - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES + 5),
        )
        payments.append(payment)
    return payments


def test_two_reconciliations_at_once_settle_each_payment_once(pay, localstripe):
    payments = _stuck_payments(pay, 4)
    pks = [p.pk for p in payments]
    before = PaymentEvent.objects.filter(payment_id__in=pks).count()

    results = _together(reconcile_stuck)

    assert set(Payment.objects.filter(pk__in=pks).values_list("status", flat=True)) == {
        PaymentStatus.SUCCEEDED
    }
    # Each payment moved from processing to succeeded once: one new event each, whoever did it.
    assert PaymentEvent.objects.filter(payment_id__in=pks).count() - before == len(pks)
    assert sum(r["failed"] for r in results) == 0


def test_two_otp_expiries_at_once_cancel_each_payment_once(pay, redis_client, settings):
    from otp.tests.support import EMAIL

    settings.CELERY_TASK_ALWAYS_EAGER = True  # the first code is e-mailed in-process (locmem mailbox)
    pks = []
    for _ in range(3):
        body = pay(require_otp=True, email=EMAIL, order_id=f"otp-{uuid.uuid4().hex[:10]}").json()
        assert body["status"] == "requires_otp", body
        pks.append(Payment.objects.get(public_id=body["payment_id"]).pk)
    later = timezone.now() + timedelta(minutes=settings.OTP_PAYMENT_EXPIRY_MINUTES + 1)

    results = _together(lambda: otp_expire_payments(now=later))

    assert sum(results) == 3 and set(Payment.objects.filter(pk__in=pks).values_list("status", flat=True)) == {
        PaymentStatus.CANCELED
    }
    assert PaymentEvent.objects.filter(payment_id__in=pks, type="otp_expired").count() == 3, (
        "each expired once"
    )
