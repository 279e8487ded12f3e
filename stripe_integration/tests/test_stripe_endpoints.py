"""The seed's Stripe endpoints, 3-D Secure, manual capture, against localstripe."""

import pytest
import requests
from django.conf import settings

from payments.models import Payment
from payments.tests.fixtures import card, payment_body

pytestmark = pytest.mark.django_db


def _authenticate_at_localstripe(payment_intent_id: str, client_secret: str, success: bool) -> None:
    # localstripe's stand-in for the customer's 3-D Secure page.
    response = requests.post(
        f"{settings.STRIPE_API_BASE}/v1/payment_intents/{payment_intent_id}/_authenticate",
        data={"client_secret": client_secret, "success": "true" if success else "false"},
        auth=(settings.STRIPE_SECRET_KEY, ""),
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def stripe_pay(api, localstripe):
    def _pay(**overrides):
        body = payment_body(payment_id=overrides.pop("payment_id", "pay_seed_1"), **overrides)
        return api.post("/api/v1/stripe/payment", body, format="json")

    return _pay


def test_the_seed_payment_endpoint_answers_the_seed_fields(stripe_pay):
    response = stripe_pay(amount=99.99, description="Test payment")

    body = response.json()
    assert response.status_code == 201, body
    for field in (
        "payment_id",
        "order_id",
        "status",
        "amount",
        "currency",
        "transaction_id",
        "payment_method",
        "receipt_url",
        "created",
        "amount_minor",
    ):
        assert field in body
    assert (body["payment_id"], body["status"], body["amount"], body["amount_minor"]) == (
        "pay_seed_1",
        "succeeded",
        "99.99",
        9999,
    )
    assert isinstance(body["created"], int)


def test_a_decline_through_the_seed_endpoint_is_402(stripe_pay):
    response = stripe_pay(card=card("4000000000000341"))

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"


def test_three_d_secure_then_confirm_succeeds(api, stripe_pay):
    body = stripe_pay(card=card("4000002500003155")).json()
    assert body["status"] == "requires_action"

    early = api.post("/api/v1/payments/pay_seed_1/confirm", format="json")
    _authenticate_at_localstripe(body["transaction_id"], body["client_secret"], success=True)
    confirmed = api.post("/api/v1/payments/pay_seed_1/confirm", format="json")

    assert early.status_code == 409
    assert early.json()["error"]["code"] == "authentication_required"
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["status"] == "succeeded"
    assert confirmed.json()["captured_minor"] == 1999


def test_confirming_a_payment_the_webhook_already_settled_answers_200_with_it(api, stripe_pay):
    body = stripe_pay(card=card("4000002500003155")).json()
    _authenticate_at_localstripe(body["transaction_id"], body["client_secret"], success=True)
    first = api.post("/api/v1/payments/pay_seed_1/confirm", format="json")  # settles it, as a webhook would

    again = api.post("/api/v1/payments/pay_seed_1/confirm", format="json")

    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "succeeded"
    assert again.json()["payment_id"] == "pay_seed_1"


def test_three_d_secure_that_fails_is_402_and_the_payment_fails(api, stripe_pay):
    body = stripe_pay(card=card("4000002500003155")).json()
    _authenticate_at_localstripe(body["transaction_id"], body["client_secret"], success=False)

    response = api.post("/api/v1/payments/pay_seed_1/confirm", format="json")

    assert response.status_code == 402
    assert Payment.objects.get(public_id="pay_seed_1").status == "failed"


def test_partial_and_full_refunds_through_the_seed_refund_endpoint(api, stripe_pay):
    stripe_pay(amount="20.00")

    partial = api.post(
        "/api/v1/stripe/refund",
        {"payment_id": "pay_seed_1", "amount": 5, "reason": "duplicate"},
        format="json",
    )
    rest = api.post("/api/v1/stripe/refund", {"payment_id": "pay_seed_1"}, format="json")
    over = api.post("/api/v1/stripe/refund", {"payment_id": "pay_seed_1", "amount": "0.01"}, format="json")

    assert partial.status_code == 201, partial.json()
    assert (partial.json()["amount_minor"], partial.json()["reason"]) == (500, "duplicate")
    assert rest.json()["amount_minor"] == 1500
    assert rest.json()["payment"]["status"] == "refunded"
    assert over.status_code == 409


def test_get_refreshes_from_stripe_and_is_scoped_to_the_client(api, other_api, stripe_pay):
    body = stripe_pay(card=card("4000002500003155")).json()
    _authenticate_at_localstripe(body["transaction_id"], body["client_secret"], success=True)

    mine = api.get("/api/v1/stripe/payment/pay_seed_1")
    theirs = other_api.get("/api/v1/stripe/payment/pay_seed_1")
    by_intent = api.get(f"/api/v1/stripe/payment/{body['transaction_id']}")

    assert mine.json()["status"] == "succeeded"  # settled from Stripe's current state
    assert theirs.status_code == 404
    assert by_intent.status_code == 404  # looked up by our id, never a raw PaymentIntent id


def test_manual_capture_then_partial_capture(api, stripe_pay):
    body = stripe_pay(amount="10.00", capture_method="manual").json()
    assert body["status"] == "requires_capture"
    assert body["refundable_minor"] == 0

    captured = api.post("/api/v1/payments/pay_seed_1/capture", {"amount": "6.00"}, format="json")

    assert captured.status_code == 200, captured.json()
    assert (captured.json()["status"], captured.json()["captured_minor"]) == ("succeeded", 600)
    over = api.post("/api/v1/payments/pay_seed_1/refund", {"amount": "7.00"}, format="json")
    assert over.status_code == 400  # only what was captured can be refunded


def test_an_authorized_payment_can_be_canceled(api, stripe_pay):
    stripe_pay(capture_method="manual")

    response = api.post("/api/v1/payments/pay_seed_1/cancel", format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "canceled"
    again = api.post("/api/v1/payments/pay_seed_1/capture", format="json")
    assert again.status_code == 409
