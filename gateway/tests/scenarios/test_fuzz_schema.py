"""Schemathesis against the project's own OpenAPI schema (/api/schema/).

Every operation is called, in-process through the WSGI app, with generated
valid and invalid requests and a valid API key, on the real services. Any 5xx,
or a response the schema does not describe, fails. `make test` runs a bounded
number of examples per operation (FUZZ_EXAMPLES, default 15); `make fuzz` a
longer run. Failures found are kept as regression tests in
test_hostile_input.py.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis import checks

from gateway.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


def _load_schema():
    # The same document /api/schema/ serves (test_api_schema checks that it is served).
    document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def _fuzzing(settings, localstripe):
    # The fuzzer sends far more than a client would: the limits would answer 429 to most of it.
    settings.RATE_LIMITS = {name: "100000/s" for name in settings.RATE_LIMITS}


@pytest.mark.reliability(
    "Bad input",
    "Schemathesis on every operation of /api/schema/: no 5xx, no response outside the schema",
)
@pytest.mark.django_db(transaction=True)  # autocommit, as in production
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
)
def test_no_operation_answers_5xx_or_breaks_its_schema(case, merchant):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {merchant.raw_key}"},
        # The bar: no 5xx, and every response as the schema describes it.
        # Not checked: that every schema-valid body is accepted, or every invalid
        # one refused; a payment API has rules the schema cannot express
        # (amount > 0, currencies, state), answered with documented 4xx.
        excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
    )


def _operations():
    return {op.definition.raw["operationId"]: op for op in (r.ok() for r in schema.get_all_operations())}


@pytest.mark.django_db(transaction=True)
def test_every_operation_on_real_data_answers_as_its_schema_says(merchant, api, settings, localstripe):
    """The generated examples above mostly miss: a random payment id is a 404, so
    the shapes of the success answers (a payment's events, its refunds, the
    list) were never checked against the schema, and a bare-array events answer
    went unnoticed. Here every operation is called with real data (a charged
    payment with a refund, an authorized one, a 3-D Secure one, one held for a
    code) and must answer 2xx with a body that is what the schema says, and
    lists that are not empty."""
    import re
    import time
    import uuid

    from django.core import mail

    from payments.webhooks.services import webhook_endpoint_create
    from payments.webhooks.tests.conftest import Receiver

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0
    settings.WEBHOOK_ALLOW_LOCAL_URLS = True
    order = f"order-{uuid.uuid4().hex[:10]}"
    # A merchant endpoint first, so that the payments below have deliveries to list.
    receiver = Receiver()
    endpoint = webhook_endpoint_create(client=merchant, url=receiver.url, events=["*"])
    to_delete = webhook_endpoint_create(client=merchant, url=receiver.url, events=["refund.*"])

    def pay(**fields):
        body = {"order_id": order, "amount": "19.99", "currency": "usd", "payment_method": "pm_card_visa"}
        body = {name: value for name, value in {**body, **fields}.items() if value is not None}
        answer = api.post("/api/v1/payments/process", body, format="json")
        assert answer.status_code < 300, answer.json()
        return answer.json()

    charged = pay()
    assert (
        api.post(
            f"/api/v1/payments/{charged['payment_id']}/refund", {"amount": "1.00"}, format="json"
        ).status_code
        == 201
    )
    to_capture, to_cancel = pay(capture_method="manual"), pay(capture_method="manual")
    secure = pay(
        payment_method=None,
        card={"number": "4000002500003155", "exp_month": "12", "exp_year": "2034", "cvc": "123"},
    )
    import requests

    assert requests.post(
        f"{localstripe}/v1/payment_intents/{secure['transaction_id']}/_authenticate",
        data={"key": "pk_test_fuzz", "client_secret": secure["client_secret"], "success": "true"},
        timeout=10,
    ).ok
    held = pay(require_otp=True, email="payer@example.com", order_id=f"{order}-otp")
    event = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": charged["transaction_id"], "object": "payment_intent"}},
    }

    def signed(body: dict) -> str:
        from conftest import stripe_signature

        return stripe_signature(json.dumps(body), settings.STRIPE_WEBHOOK_SECRET)

    paid = charged["payment_id"]
    calls = {
        "health.live": {},
        "health.ready": {},
        "payments.list": {"query": {"order_id": order, "status": "partially_refunded", "limit": 2}},
        "payments.retrieve": {"path_parameters": {"payment_id": paid}},
        "payments.status": {"path_parameters": {"payment_id": paid}},
        "payments.events": {"path_parameters": {"payment_id": paid}, "query": {"limit": 2}},
        "payments.process": {
            "body": {"order_id": order, "amount": "2.00", "currency": "usd", "payment_method": "pm_card_visa"}
        },
        "payments.refund": {"path_parameters": {"payment_id": paid}, "body": {"amount": "1.00"}},
        "payments.capture": {"path_parameters": {"payment_id": to_capture["payment_id"]}, "body": {}},
        "payments.cancel": {"path_parameters": {"payment_id": to_cancel["payment_id"]}},
        "payments.confirm": {"path_parameters": {"payment_id": secure["payment_id"]}},
        "otp.send": {"body": {"payment_id": held["payment_id"]}},
        "otp.validate": {
            "body": lambda: {
                "payment_id": held["payment_id"],
                "otp": re.search(r"code is (\d{6})", mail.outbox[-1].body).group(1),
            }
        },
        "stripe.validate_card": {
            "body": {
                "card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
            }
        },
        "stripe.create_payment": {
            "body": {"order_id": order, "amount": "3.00", "currency": "usd", "payment_method": "pm_card_visa"}
        },
        "stripe.retrieve_payment": {"path_parameters": {"payment_id": paid}},
        "stripe.refund": {"body": {"payment_id": paid, "amount": "1.00"}},
        "stripe.webhook": {"body": event, "headers": {"Stripe-Signature": signed(event)}},
        "webhook_endpoints.create": {"body": {"url": receiver.url, "events": ["payment.*"]}},
        "webhook_endpoints.list": {},
        "webhook_endpoints.retrieve": {"path_parameters": {"endpoint_id": endpoint.public_id}},
        "webhook_endpoints.deliveries": {"path_parameters": {"endpoint_id": endpoint.public_id}},
        "webhook_endpoints.rotate_secret": {"path_parameters": {"endpoint_id": endpoint.public_id}},
        "webhook_endpoints.delete": {"path_parameters": {"endpoint_id": to_delete.public_id}},
    }
    operations = _operations()
    assert set(calls) == set(operations), "an operation without real data here"
    try:
        _call_each(calls, operations, merchant)
    finally:
        receiver.close()


def _call_each(calls: dict, operations: dict, merchant) -> None:
    for operation_id, parts in calls.items():
        parts = {name: value() if callable(value) else value for name, value in parts.items()}
        headers = {"Authorization": f"Bearer {merchant.raw_key}", **parts.pop("headers", {})}
        case = operations[operation_id].Case(headers=headers, **parts)
        response = case.call_and_validate(
            excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection]
        )
        assert response.status_code < 300, (operation_id, response.status_code, response.text)
        body = response.json()
        if isinstance(body, dict) and "results" in body:
            assert body["results"], f"{operation_id}: an empty list proves nothing"
        if operation_id == "payments.retrieve":
            assert body["refunds"], "a payment with a refund"
