"""POST /api/v1/payments/process and the read endpoints, against localstripe over real HTTP."""

import pytest

from payments.models import Payment
from payments.tests.fixtures import card

pytestmark = pytest.mark.django_db


def test_a_raw_card_payment_succeeds_with_exact_money(pay):
    response = pay(payment_id="pay_ok_1", amount=19.99)

    body = response.json()
    assert response.status_code == 201, body
    assert body["status"] == "succeeded"
    assert (body["amount"], body["amount_minor"], body["currency"]) == ("19.99", 1999, "usd")
    assert (body["captured_minor"], body["refundable_minor"], body["refunded_minor"]) == (1999, 1999, 0)
    assert body["transaction_id"].startswith("pi_")
    assert body["payment_method"].startswith("pm_")
    assert body["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    payment = Payment.objects.get(public_id="pay_ok_1")
    assert payment.amount_minor == 1999 and payment.stripe_payment_intent_id == body["transaction_id"]


def test_a_payment_method_token_payment_succeeds(pay):
    response = pay(card=None, payment_method="pm_card_visa", amount="5000", currency="JPY")

    body = response.json()
    assert response.status_code == 201, body
    assert (body["status"], body["amount"], body["amount_minor"], body["currency"]) == (
        "succeeded",
        "5000",
        5000,
        "jpy",
    )


def test_a_three_decimal_currency_keeps_its_exponent(pay):
    body = pay(amount="1.250", currency="kwd").json()

    assert (body["amount"], body["amount_minor"]) == ("1.250", 1250)


def test_a_decline_is_402_with_the_decline_code_and_the_payment_is_failed(pay):
    response = pay(payment_id="pay_declined", card=card("4000000000000341"))

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "card_error"
    assert error["code"] == "card_declined"
    assert error["decline_code"]
    assert error["payment_id"] == "pay_declined"
    payment = Payment.objects.get(public_id="pay_declined")
    assert payment.status == "failed"
    assert payment.failure_code


def test_three_d_secure_answers_requires_action_with_next_action_and_client_secret(pay):
    response = pay(card=card("4000002500003155"))

    body = response.json()
    assert response.status_code == 201, body
    assert body["status"] == "requires_action"
    assert body["next_action"]["type"] == "use_stripe_sdk"
    assert body["client_secret"].startswith(body["transaction_id"])


def test_require_otp_holds_the_payment_without_charging(pay):
    response = pay(require_otp=True, email="payer@example.com")

    body = response.json()
    assert response.status_code == 201, body
    assert body["status"] == "requires_otp"
    assert body["transaction_id"] == ""
    assert body["payment_method"].startswith("pm_")  # tokenized: the card itself is not kept


def test_async_answers_202_processing_and_a_task_charges_it(
    pay, settings, django_capture_on_commit_callbacks
):
    # Celery runs the task in-process here; the worker path is covered by the events suite.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        response = pay(payment_id="pay_async", **{"async": True})

    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    assert Payment.objects.get(public_id="pay_async").status == "succeeded"


def test_prefer_respond_async_header_also_queues(pay, settings, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        response = pay(headers={"HTTP_PREFER": "respond-async"})

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"amount": "10.001"}, "amount", "amount_too_precise"),
        ({"amount": 0}, "amount", "invalid_amount"),
        ({"amount": "-5"}, "amount", "invalid_amount"),
        ({"amount": "NaN"}, "amount", "invalid_amount"),
        ({"amount": "99999999999999999999"}, "amount", "amount_too_large"),
        ({"currency": "xyz"}, "currency", "unsupported_currency"),
        ({"currency": "usd "}, "currency", "invalid_currency"),
        ({"order_id": ""}, "order_id", "blank"),
        ({"payment_id": "has space"}, "payment_id", "invalid_request"),
        ({"card": card("4242424242424241")}, "card.number", "incorrect_number"),
        ({"card": card(cvc="12")}, "card.cvc", "invalid_cvc"),
        ({"payment_method": "pm_card_visa"}, "payment_method", "invalid_request"),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_records_nothing(pay, overrides, param, code):
    response = pay(**overrides)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert not Payment.objects.exists()


def test_raw_card_data_is_refused_when_not_allowed(pay, settings):
    settings.ACCEPT_RAW_CARD_DATA = False

    response = pay()

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "raw_card_data_not_accepted"
    assert not Payment.objects.exists()


def test_a_legacy_tok_token_is_a_clear_400_at_localstripe(pay):
    # localstripe cannot pay with tok_ (real Stripe can, via payment_method_data);
    # the answer must still be a clear client error, not a 500.
    response = pay(card=None, token="tok_visa")

    assert response.status_code == 400
    assert Payment.objects.get().status == "failed"


def test_a_duplicate_payment_id_is_409(pay):
    assert pay(payment_id="pay_dup").status_code == 201

    response = pay(payment_id="pay_dup")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_payment_id"
    assert Payment.objects.filter(public_id="pay_dup").count() == 1


def test_get_status_and_events_of_a_payment(api, pay):
    payment_id = pay().json()["payment_id"]

    assert api.get(f"/api/v1/payments/{payment_id}").json()["status"] == "succeeded"
    assert api.get(f"/api/v1/payments/{payment_id}/status").json() == {
        "payment_id": payment_id,
        "order_id": "order_1",
        "status": "succeeded",
    }
    page = api.get(f"/api/v1/payments/{payment_id}/events").json()
    events = page["results"]
    assert [e["type"] for e in events] == ["created", "charge_succeeded"]
    assert page["next"] is None
    first = api.get(f"/api/v1/payments/{payment_id}/events", {"limit": 1}).json()
    second = api.get(first["next"]).json()
    assert [e["type"] for e in first["results"] + second["results"]] == ["created", "charge_succeeded"]
    assert events[0]["status_after"] == "processing"  # charged at once: created processing
    assert events[-1]["status_after"] == "succeeded"


def test_a_client_sees_only_its_own_payments(api, other_api, pay):
    payment_id = pay().json()["payment_id"]

    theirs = other_api.get(f"/api/v1/payments/{payment_id}")
    unknown = other_api.get("/api/v1/payments/pay_does_not_exist")

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "resource_missing"
    assert other_api.get("/api/v1/payments").json()["results"] == []
    assert other_api.post(f"/api/v1/payments/{payment_id}/refund", {}, format="json").status_code == 404


def test_the_list_filters_and_paginates_with_a_cursor(api, pay):
    for index in range(3):
        pay(order_id=f"order_{index}")
    pay(order_id="declined", card=card("4000000000000341"))

    first = api.get("/api/v1/payments?limit=2").json()
    second = api.get(first["next"].replace("http://testserver", "")).json()
    failed = api.get("/api/v1/payments?status=failed").json()["results"]
    by_order = api.get("/api/v1/payments?order_id=order_1").json()["results"]
    since = api.get("/api/v1/payments?created_gte=2000-01-01T00:00:00Z").json()["results"]

    assert len(first["results"]) == 2 and len(second["results"]) == 2
    assert {p["payment_id"] for p in first["results"]}.isdisjoint(p["payment_id"] for p in second["results"])
    assert [p["order_id"] for p in failed] == ["declined"]
    assert [p["order_id"] for p in by_order] == ["order_1"]
    assert len(since) == 4


@pytest.mark.parametrize(
    ("query", "param", "code"),
    [
        ("status=bogus", "status", "invalid_choice"),
        ("created_gte=yesterday", "created_gte", "invalid_request"),
        ("created_lte=2026-13-01", "created_lte", "invalid_request"),
    ],
)
def test_an_invalid_filter_is_400_not_ignored(api, query, param, code):
    response = api.get(f"/api/v1/payments?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_every_api_endpoint_needs_a_key():
    from rest_framework.test import APIClient

    anonymous = APIClient()
    for method, path in [
        ("get", "/api/v1/payments"),
        ("post", "/api/v1/payments/process"),
        ("get", "/api/v1/payments/x"),
        ("get", "/api/v1/payments/x/status"),
        ("get", "/api/v1/payments/x/events"),
        ("post", "/api/v1/payments/x/refund"),
    ]:
        assert getattr(anonymous, method)(path).status_code == 401, path


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/payments/process", {"capture_methd": "manual"}),
        (
            "/api/v1/payments/process",
            {
                "card": {
                    "number": "4242424242424242",
                    "exp_month": "12",
                    "exp_year": "2034",
                    "cvc": "123",
                    "cvv": "123",
                }
            },
        ),
    ],
)
def test_an_unknown_field_is_refused_not_dropped(pay, api, path, body):
    """A misspelt capture_method would otherwise charge at once: Stripe refuses
    unknown parameters, and so does the gateway, naming the field."""
    response = pay(**body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter"
    assert error["param"].endswith(("capture_methd", "cvv"))
    assert not Payment.objects.exists()


def test_an_unknown_field_on_a_refund_is_refused_before_any_refund(api, pay):
    payment_id = pay().json()["payment_id"]

    response = api.post(f"/api/v1/payments/{payment_id}/refund", {"amout": "1.00"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amout"
    assert not Payment.objects.get(public_id=payment_id).refunds.exists()
