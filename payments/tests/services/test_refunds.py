"""Refunds through POST /payments/{id}/refund and the refund service, at localstripe."""

import pytest

from gateway.core.errors import GatewayError
from payments.models import Payment, Refund
from payments.services.refunds import payment_refund
from payments.tests.fixtures import run_at_once
from stripe_integration.client import stripe_client


def _refund(api, payment_id, **body):
    return api.post(f"/api/v1/payments/{payment_id}/refund", body, format="json")


@pytest.mark.django_db
def test_partial_then_partial_then_an_over_refund_is_rejected(api, pay):
    payment_id = pay(amount="19.99").json()["payment_id"]

    first = _refund(api, payment_id, amount="5.00", reason="requested_by_customer")
    second = _refund(api, payment_id, amount=10)
    over = _refund(api, payment_id, amount="5.00")

    assert first.status_code == 201, first.json()
    assert first.json()["payment"]["status"] == "partially_refunded"
    assert first.json()["reason"] == "requested_by_customer"
    assert second.status_code == 201
    assert second.json()["payment"]["refundable_minor"] == 499
    assert over.status_code == 400
    assert over.json()["error"]["code"] == "amount_too_large"
    assert over.json()["error"]["refundable_minor"] == 499
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.status, payment.refunded_minor, payment.refundable_minor) == (
        "partially_refunded",
        1500,
        499,
    )
    assert Refund.objects.filter(payment=payment).count() == 2


@pytest.mark.django_db
def test_a_refund_without_amount_refunds_the_remainder(api, pay):
    payment_id = pay(amount="19.99").json()["payment_id"]
    _refund(api, payment_id, amount="9.99")

    response = _refund(api, payment_id, reason="order canceled by shop")

    body = response.json()
    assert response.status_code == 201, body
    assert body["amount_minor"] == 1000
    assert (body["reason"], body["reason_text"]) == ("other", "order canceled by shop")
    assert body["payment"]["status"] == "refunded"
    assert body["payment"]["refundable_minor"] == 0
    again = _refund(api, payment_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "payment_not_refundable"


@pytest.mark.django_db
def test_the_psp_sees_the_same_amounts(api, pay):
    body = pay(amount="19.99").json()
    _refund(api, body["payment_id"], amount="4.00")

    refunds = stripe_client().v1.refunds.list(params={"limit": 100}).auto_paging_iter()
    ours = [
        r
        for r in refunds
        if r.payment_intent == body["transaction_id"]
        or getattr(r, "metadata", {}).get("payment_id") == body["payment_id"]
    ]
    assert [r.amount for r in ours] == [400]


@pytest.mark.django_db
def test_a_failed_or_held_payment_cannot_be_refunded(api, pay):
    from payments.tests.fixtures import card

    declined = pay(card=card("4000000000000341"), payment_id="pay_dec").json()["error"]["payment_id"]
    held = pay(require_otp=True, email="payer@example.com").json()["payment_id"]

    for payment_id in (declined, held):
        response = _refund(api, payment_id, amount="1.00")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "payment_not_refundable"
    assert not Refund.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc"])
@pytest.mark.django_db
def test_an_invalid_refund_amount_is_400(api, pay, amount):
    payment_id = pay().json()["payment_id"]

    response = _refund(api, payment_id, amount=amount)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"


@pytest.mark.reliability(
    "Concurrency",
    "20 concurrent partial refunds over the total: never beyond the capture",
)
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_refunds_never_exceed_the_capture(api, pay):
    payment_id = pay(amount="19.99").json()["payment_id"]
    payment = Payment.objects.get(public_id=payment_id)

    def refund_two_dollars() -> str:
        try:
            payment_refund(payment=payment, amount_minor=200, reason="", actor="test")
            return "ok"
        except GatewayError as exc:
            return exc.code

    outcomes = run_at_once(20, refund_two_dollars)

    payment.refresh_from_db()
    succeeded = Refund.objects.filter(payment=payment, status="succeeded")
    assert outcomes.count("ok") == 9  # 9 x 2.00 fits in 19.99; the 10th would not
    assert outcomes.count("amount_too_large") == 11
    assert sum(r.amount_minor for r in succeeded) == payment.refunded_minor == 1800
    assert payment.refunded_minor <= payment.captured_minor
    assert payment.status == "partially_refunded"


@pytest.mark.django_db
def test_the_totals_check_recomputes_refunded_minor_from_the_refunds(api, pay):
    from io import StringIO

    from django.core.management import call_command

    payment_id = pay(amount="20.00").json()["payment_id"]
    api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json")
    clean = StringIO()
    call_command("payments_check_totals", stdout=clean)
    Payment.objects.filter(public_id=payment_id).update(refunded_minor=600)  # a counter that drifted

    drifted = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("payments_check_totals", stdout=drifted)

    assert "0 payment(s)" in clean.getvalue()
    assert exit_.value.code == 1
    assert f"{payment_id}: refunded_minor 600, refunds add up to 500" in drifted.getvalue()
