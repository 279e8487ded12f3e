"""Each read endpoint runs a fixed, small number of queries, whatever the data size."""

import pytest

from payments.models import Payment, Refund
from payments.services.events import payment_event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_payments(merchant):
    payments = Payment.objects.bulk_create(
        [
            Payment(
                public_id=f"pay_{i}",
                client=merchant,
                order_id=f"o{i}",
                amount_minor=1000,
                currency="usd",
                status="partially_refunded",
                captured_minor=1000,
                refunded_minor=100,
                refund_count=2,
            )
            for i in range(60)
        ]
    )
    Payment.objects.create(
        public_id="pay_none",
        client=merchant,
        order_id="o-none",
        amount_minor=1000,
        currency="usd",
        status="succeeded",
        captured_minor=1000,
    )
    Refund.objects.bulk_create(
        [
            Refund(
                public_id=f"re_{p.public_id}_{n}",
                payment=p,
                amount_minor=50,
                currency="usd",
                status="succeeded",
                actor="test",
            )
            for p in payments
            for n in range(2)
        ]
    )
    for _ in range(10):
        payment_event_record(payment=payments[0], type="status_synced", actor="test")
    return payments


# Auth (the key, cached after its first use) + the reads themselves.
@pytest.mark.parametrize(
    ("path", "budget"),
    [
        ("/api/v1/payments?limit=50", 4),  # key, page, refunds of the page
        ("/api/v1/payments/pay_0", 3),  # key, payment, its refunds
        ("/api/v1/payments/pay_none", 2),  # key, payment: its row counts no refund
        ("/api/v1/payments/pay_0/status", 2),
        ("/api/v1/payments/pay_0/events", 3),
    ],
)
def test_read_endpoints_stay_within_their_query_budget(
    api, many_payments, django_assert_max_num_queries, path, budget
):
    with django_assert_max_num_queries(budget):
        response = api.get(path)

    assert response.status_code == 200


_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK", "BEGIN", "COMMIT")


@pytest.fixture
def statements():
    """Counts SQL statements, not transaction control (the test's own outer
    transaction turns every atomic block into SAVEPOINT/RELEASE)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    class Counter(CaptureQueriesContext):
        @property
        def sql(self) -> list[str]:
            return [q["sql"] for q in self.captured_queries if not q["sql"].startswith(_TRANSACTION_CONTROL)]

    return lambda: Counter(connection)


def _server_timing_queries(response) -> int:
    return int(response["Server-Timing"].split('desc="')[1].split(" ")[0])


def test_a_payment_costs_at_most_8_queries(pay, statements):
    # The load issue's budget: key lookup (cached after the first request), the
    # Idempotency-Key claim, the payment with its event and outbox row, the
    # settle with its event and outbox row, and the key's completion.
    pay(headers={"HTTP_IDEMPOTENCY_KEY": "warm-up"}, payment_id="pay_warm")
    with statements() as counted:
        response = pay(headers={"HTTP_IDEMPOTENCY_KEY": "budget"}, payment_id="pay_budget")

    assert response.status_code == 201, response.json()
    assert len(counted.sql) <= 8, "\n".join(counted.sql)
    # Server-Timing counts what the database ran, savepoints included (the
    # test's outer transaction makes each atomic block one).
    ran = [q["sql"] for q in counted.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    assert _server_timing_queries(response) == len(ran)


def test_a_payment_read_lists_its_refunds_failed_ones_too(api, pay, settings):
    from payments.services.refunds import refund_settle

    payment_id = pay().json()["payment_id"]
    refunded = api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "1.00"}, format="json")
    refund = Refund.objects.get(public_id=refunded.json()["refund_id"])
    refund.status = "pending"
    refund.save(update_fields=["status"])
    refund_settle(refund=refund, status="failed", actor="test", failure_code="expired_or_canceled_card")

    body = api.get(f"/api/v1/payments/{payment_id}").json()

    assert body["refunded_minor"] == 0
    assert [r["refund_id"] for r in body["refunds"]] == [refund.public_id]
    assert Payment.objects.get(public_id=payment_id).refund_count == 1


def test_a_refund_stays_within_its_query_budget(api, pay, statements):
    payment_id = pay().json()["payment_id"]

    # Reserve under lock, PSP call, settle, with the timeline and its outbox rows.
    with statements() as counted:
        response = api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "1.00"}, format="json")

    assert response.status_code == 201
    assert len(counted.sql) <= 13, "\n".join(counted.sql)
