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
            )
            for i in range(60)
        ]
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


# Auth (1 query for the key) + the reads themselves.
@pytest.mark.parametrize(
    ("path", "budget"),
    [
        ("/api/v1/payments?limit=50", 4),  # key, page, refunds of the page
        ("/api/v1/payments/pay_0", 3),  # key, payment, its refunds
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


def test_refund_stays_within_its_query_budget(api, pay, django_assert_max_num_queries):
    payment_id = pay().json()["payment_id"]

    # Reserve, PSP call, settle, with the timeline and its outbox rows.
    with django_assert_max_num_queries(22):
        response = api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "1.00"}, format="json")

    assert response.status_code == 201


def test_process_stays_within_its_query_budget(pay, django_assert_max_num_queries):
    # Includes the key lookup, the Idempotency-Key claim and completion, three
    # short transactions around the PSP call (savepoints count here) and the timeline.
    with django_assert_max_num_queries(24):
        response = pay(headers={"HTTP_IDEMPOTENCY_KEY": "budget"})

    assert response.status_code == 201
