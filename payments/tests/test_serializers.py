"""The output serializers render with a plain dict for speed (see
payments/serializers.py); DRF's generic field-by-field rendering is the
reference, and both must agree on payments in every shape."""

from __future__ import annotations

import pytest

from payments.models import Payment, Refund
from payments.serializers import CardSummarySerializer, PaymentSerializer, RefundSerializer
from payments.tests.fixtures import card

pytestmark = pytest.mark.django_db


def _shapes(api, pay) -> list[Payment]:
    refunded = pay(payment_id="pay_shape_refunded", amount="50.00", metadata={"k": "v", "n": "12"})
    api.post("/api/v1/payments/pay_shape_refunded/refund", {"amount": "5.25"}, format="json")
    api.post("/api/v1/payments/pay_shape_refunded/refund", {"reason": "duplicate"}, format="json")
    pay(payment_id="pay_shape_3ds", card=card("4000002500003155"))
    pay(payment_id="pay_shape_declined", card=card("4000000000000341"))
    pay(
        payment_id="pay_shape_held", require_otp=True, email="payer@example.com", currency="jpy", amount="500"
    )
    pay(payment_id="pay_shape_token", card=None, payment_method="pm_card_visa", description="Ünïcode ✓")
    assert refunded.status_code == 201
    payments = list(Payment.objects.filter(public_id__startswith="pay_shape_").prefetch_related("refunds"))
    assert {p.status for p in payments} >= {
        "refunded",
        "requires_action",
        "failed",
        "requires_otp",
        "succeeded",
    }
    return payments


def test_the_fast_payment_rendering_equals_drf_generic_rendering(api, pay):
    payments = _shapes(api, pay)
    serializer = PaymentSerializer()

    for payment in payments:
        fast = serializer.to_representation(payment)
        generic = dict(serializer.generic_representation(payment))
        assert fast == generic, payment.public_id
        assert list(fast) == list(PaymentSerializer.Meta.fields)  # same fields, same order


def test_the_fast_refund_and_card_renderings_equal_drf_generic_rendering(api, pay):
    payments = _shapes(api, pay)
    refunds = list(Refund.objects.filter(payment__in=payments))
    assert len(refunds) == 2
    for refund in refunds:
        fast = RefundSerializer().to_representation(refund)
        assert fast == dict(RefundSerializer().generic_representation(refund))
        assert list(fast) == list(RefundSerializer.Meta.fields)
    for payment in payments:
        if payment.card_last4:
            assert PaymentSerializer().get_card(payment) == dict(CardSummarySerializer(payment).data)


def test_a_cursor_the_api_did_not_give_is_a_400_naming_it(api, pay):
    pay()
    for path in (
        "/api/v1/payments?cursor=bogus",
        f"/api/v1/payments/{pay().json()['payment_id']}/events?cursor=x",
    ):
        response = api.get(path)
        assert response.status_code == 400, path
        assert response.json()["error"]["param"] == "cursor"
