"""A client generated from the live schema, as a merchant would make it, drives
every operation of the API; nothing may surprise it.

openapi-python-client (from PyPI, in the dev requirements) generates a package
from the schema /api/schema/ serves. Its calls go in-process to the gateway's
WSGI application (httpx's WSGI transport), on the real services: MariaDB,
Redis, localstripe. It fails on any exception the client raises (a response it
cannot parse, a status the schema does not list: raise_on_unexpected_status),
and on any answer field the schema does not declare, which a generated client
hides in `additional_properties`. Free-form maps (metadata, a webhook's
event) declare no properties and are the only models allowed extra keys.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import attrs
import httpx
import pytest
from django.core import mail

from conftest import free_closed_port, stripe_signature
from gateway.wsgi import application

BASE = "http://localhost"
PACKAGE = "gateway_client"
CONFIG = f"package_name_override: {PACKAGE}\nproject_name_override: gateway-client\npost_hooks: []\n"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory, django_db_blocker):
    """The package openapi-python-client generates from /api/schema/."""
    out = tmp_path_factory.mktemp("generated")
    with django_db_blocker.unblock():
        schema = httpx.Client(transport=httpx.WSGITransport(app=application), base_url=BASE).get(
            "/api/schema/", params={"format": "json"}
        )
    assert schema.status_code == 200
    (out / "schema.json").write_bytes(schema.content)
    (out / "config.yaml").write_text(CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(out / "schema.json"),
            "--config",
            str(out / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The generator warns (and skips) what it cannot read: none of that is allowed.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def undeclared_fields(value, path="answer") -> list[str]:
    """Every answer field the schema did not declare, anywhere in a parsed answer."""
    found = []
    if attrs.has(type(value)):
        declared = [
            field.name for field in attrs.fields(type(value)) if field.name != "additional_properties"
        ]
        extra = getattr(value, "additional_properties", {})
        if declared and extra:
            found.append(f"{path} ({type(value).__name__}): {sorted(extra)}")
        for name in declared:
            found += undeclared_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += undeclared_fields(item, f"{path}[{index}]")
    return found


class Driver:
    """Calls the generated operations, records which were called, and checks
    each answer: the expected status, the model the schema promises, nothing
    undeclared."""

    def __init__(self, package, key: str):
        self.package = package
        transport = httpx.WSGITransport(app=application)
        self.client = package.AuthenticatedClient(
            base_url=BASE, token=key, raise_on_unexpected_status=True, httpx_args={"transport": transport}
        )
        self.public = package.Client(
            base_url=BASE, raise_on_unexpected_status=True, httpx_args={"transport": transport}
        )
        self.called: set[str] = set()
        self.models = importlib.import_module(f"{package.__name__}.models")

    def __call__(self, operation: str, expected_status: int, *args, public=False, **kwargs):
        tag, name = operation.split(".")
        module = importlib.import_module(f"{self.package.__name__}.api.{tag}.{tag}_{name}")
        response = module.sync_detailed(*args, client=self.public if public else self.client, **kwargs)
        self.called.add(operation)
        parsed = response.parsed
        assert response.status_code == expected_status, (operation, response.status_code, response.content)
        assert parsed is not None, (operation, response.content)
        is_error = type(parsed).__name__ == "Error"
        assert is_error == (expected_status >= 400), (operation, type(parsed).__name__)
        assert undeclared_fields(parsed) == [], operation
        return parsed


def operation_ids(package) -> set[str]:
    api = Path(package.__file__).parent / "api"
    return {
        f"{tag.name}.{module.stem.removeprefix(tag.name + '_')}"
        for tag in api.iterdir()
        if tag.is_dir() and not tag.name.startswith("_")
        for module in tag.glob("*.py")
        if module.stem != "__init__"
    }


def card(models, number="4242424242424242"):
    return models.CardInput(number=number, exp_month="12", exp_year="2034", cvc="123", name="Jane Doe")


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: after-commit work runs
def test_a_generated_client_drives_every_operation(client_package, merchant, localstripe, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # async charges, OTP e-mails and the mirror run here
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0
    call = Driver(client_package, merchant.raw_key)
    m = call.models
    order = f"order-{uuid.uuid4().hex[:10]}"

    def process(expected=201, operation="payments.process", key=None, **fields):
        body = m.PaymentProcess.from_dict({"order_id": order, "amount": "19.99", "currency": "usd", **fields})
        return call(operation, expected, body=body, idempotency_key=key or uuid.uuid4().hex)

    # Health, without a key.
    assert call("health.live", 200, public=True).status == "healthy"
    assert call("health.ready", 200, public=True).checks["database"].status == "ok"

    # process, in each input form.
    by_pm = process(payment_method="pm_card_visa", metadata={"cart": "42"})
    assert by_pm.status == m.PaymentStatusEnum.SUCCEEDED and by_pm.amount_minor == 1999
    by_card = process(card=card(m).to_dict(), amount="10.50", currency="EUR")
    assert by_card.card.last4 == "4242" and by_card.currency == "eur"
    assert process(400, token="tok_visa").error.type_ == "invalid_request_error"  # localstripe: no tok_
    declined = process(402, card=card(m, "4000000000000341").to_dict())
    assert declined.error.code == "card_declined" and declined.error.payment_id
    queued = process(202, payment_method="pm_card_visa", **{"async": True})
    assert queued.status == m.PaymentStatusEnum.PROCESSING
    assert call("payments.status", 200, queued.payment_id).status == m.PaymentStatusEnum.SUCCEEDED
    replay_key = uuid.uuid4().hex
    first = process(payment_method="pm_card_visa", key=replay_key)
    assert process(payment_method="pm_card_visa", key=replay_key).payment_id == first.payment_id
    assert call("payments.retrieve", 404, "pay_missing").error.type_ == "invalid_request_error"

    # Reads: one payment, its status, its events a page at a time, the list with every filter.
    payment = call("payments.retrieve", 200, by_pm.payment_id)
    assert payment.metadata == {"cart": "42"}
    assert call("payments.status", 200, by_pm.payment_id).order_id == order
    page = call("payments.events", 200, by_pm.payment_id, limit=1)
    assert len(page.results) == 1 and page.next_
    cursor = re.search(r"cursor=([^&]+)", page.next_).group(1)
    rest = call(
        "payments.events", 200, by_pm.payment_id, limit=50, cursor=httpx.URL("?c=" + cursor).params["c"]
    )
    assert [event.type_ for event in page.results + rest.results][:2] == ["created", "charge_succeeded"]
    now = dt.datetime.now(dt.UTC)
    listed = call(
        "payments.list",
        200,
        status=m.PaymentsListStatus.SUCCEEDED,
        order_id=order,
        created_gte=now - dt.timedelta(hours=1),
        created_lte=now + dt.timedelta(hours=1),
        limit=2,
    )
    assert len(listed.results) == 2 and listed.next_
    assert all(p.status == m.PaymentStatusEnum.SUCCEEDED for p in listed.results)
    assert call("payments.list", 200, order_id=f"{order}-none").results == []
    # (A status outside the enum cannot even be sent: the client types it.)

    # Refunds: part, the rest, one too many.
    part = call(
        "payments.refund",
        201,
        by_pm.payment_id,
        body=m.RefundCreate.from_dict({"amount": "5.00", "reason": "requested_by_customer"}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert part.payment.status == m.PaymentStatusEnum.PARTIALLY_REFUNDED
    assert part.payment.refundable_minor == 1499
    too_much = call(
        "payments.refund",
        400,
        by_pm.payment_id,
        body=m.RefundCreate.from_dict({"amount": "15.00"}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert too_much.error.refundable_minor == 1499

    # Manual capture, and cancel.
    held = process(payment_method="pm_card_visa", capture_method="manual")
    assert held.status == m.PaymentStatusEnum.REQUIRES_CAPTURE
    over = call(
        "payments.capture",
        400,
        held.payment_id,
        body=m.AmountOnly.from_dict({"amount": "50.00"}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert over.error.authorized_minor == 1999
    captured = call(
        "payments.capture",
        200,
        held.payment_id,
        body=m.AmountOnly.from_dict({"amount": "15.00"}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert captured.captured_minor == 1500
    to_cancel = process(payment_method="pm_card_visa", capture_method="manual")
    canceled = call("payments.cancel", 200, to_cancel.payment_id, idempotency_key=uuid.uuid4().hex)
    assert canceled.status == m.PaymentStatusEnum.CANCELED
    refused = call("payments.cancel", 409, by_pm.payment_id, idempotency_key=uuid.uuid4().hex)
    assert refused.error.status and refused.error.allowed is not None

    # confirm: false: what the payer's browser needs, and an expiry; canceled by the merchant.
    unconfirmed = process(confirm=False, expires_in=600, success_url="https://shop.example/thanks")
    assert unconfirmed.status == m.PaymentStatusEnum.REQUIRES_PAYMENT_METHOD
    assert (
        unconfirmed.payment_url.startswith("http")
        and unconfirmed.client_secret
        and unconfirmed.publishable_key
    )
    assert unconfirmed.expires_at is not None and unconfirmed.confirmation_method == "client"
    withdrawn = call("payments.cancel", 200, unconfirmed.payment_id, idempotency_key=uuid.uuid4().hex)
    assert withdrawn.status == m.PaymentStatusEnum.CANCELED and withdrawn.cancellation_reason == "requested"

    # 3-D Secure: requires_action, the payer authenticates at the stand-in, confirm.
    secure = process(card=card(m, "4000002500003155").to_dict(), return_url="https://shop.example/return")
    assert secure.status == m.PaymentStatusEnum.REQUIRES_ACTION and secure.client_secret
    early = call("payments.confirm", 409, secure.payment_id, idempotency_key=uuid.uuid4().hex)
    assert early.error.code == "authentication_required" and early.error.next_action is not None
    authenticated = httpx.post(
        f"{localstripe}/v1/payment_intents/{secure.transaction_id}/_authenticate",
        data={"key": "pk_test_generated", "client_secret": secure.client_secret, "success": "true"},
    )
    assert authenticated.status_code == 200, authenticated.text
    confirmed = call("payments.confirm", 200, secure.payment_id, idempotency_key=uuid.uuid4().hex)
    assert confirmed.status == m.PaymentStatusEnum.SUCCEEDED

    # OTP: held, a code sent again, a wrong code, the right one.
    otp_order = f"{order}-otp"
    held_for_code = process(
        payment_method="pm_card_visa", require_otp=True, email="payer@example.com", order_id=otp_order
    )
    assert held_for_code.status == m.PaymentStatusEnum.REQUIRES_OTP
    sent = call(
        "otp.send",
        202,
        body=m.PaymentReference.from_dict({"payment_id": held_for_code.payment_id}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert sent.expires_in > 0
    code = re.search(r"verification code is (\d{6})", mail.outbox[-1].body).group(1)
    wrong = call(
        "otp.validate",
        401,
        body=m.OtpValidate.from_dict({"order_id": otp_order, "otp": f"{(int(code) + 1) % 10**6:06d}"}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert wrong.error.attempts_left == settings.OTP_MAX_ATTEMPTS - 1
    paid = call(
        "otp.validate",
        200,
        body=m.OtpValidate.from_dict({"order_id": otp_order, "otp": code}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert paid.status == m.PaymentStatusEnum.SUCCEEDED

    # The seed's /stripe/* endpoints.
    check = call(
        "stripe.validate_card",
        200,
        body=m.ValidateCardRequest.from_dict({"card": card(m, "4242 4242 4242 4241").to_dict()}),
    )
    assert check.valid is False and check.errors[0].code
    seed = process(operation="stripe.create_payment", payment_method="pm_card_visa")
    assert seed.transaction_id.startswith("pi_")
    assert call("stripe.retrieve_payment", 200, seed.payment_id).status == m.PaymentStatusEnum.SUCCEEDED
    seed_refund = call(
        "stripe.refund",
        201,
        body=m.StripeRefund.from_dict({"payment_id": seed.payment_id, "reason": "duplicate"}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert seed_refund.payment.status == m.PaymentStatusEnum.REFUNDED

    # Stripe's webhook, signed over the bytes the client sends (httpx's compact JSON).
    event = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": seed.transaction_id, "object": "payment_intent"}},
    }
    raw = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    receipt = call(
        "stripe.webhook",
        200,
        public=True,
        body=m.StripeWebhookBody.from_dict(event),
        stripe_signature=stripe_signature(raw, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert receipt.received is True and receipt.event_id == event["id"]
    unsigned = call(
        "stripe.webhook",
        400,
        public=True,
        body=m.StripeWebhookBody.from_dict(event),
        stripe_signature="t=1,v1=0",
    )
    assert unsigned.error.code

    # Webhooks to merchants: an endpoint (on a closed local port: development
    # allows it), its secret shown once, a payment's deliveries, rotation, deletion.
    settings.WEBHOOK_ALLOW_LOCAL_URLS = True
    refused = call(
        "webhook_endpoints.create",
        400,
        body=m.WebhookEndpointCreate.from_dict({"url": "http://169.254.169.254/", "events": ["*"]}),
        idempotency_key=uuid.uuid4().hex,
    )
    assert refused.error.code == "webhook_url_not_allowed" and refused.error.param == "url"
    endpoint = call(
        "webhook_endpoints.create",
        201,
        body=m.WebhookEndpointCreate.from_dict(
            {
                "url": f"http://127.0.0.1:{free_closed_port()}/hooks",
                "events": ["payment.*"],
                "description": "gen",
            }
        ),
        idempotency_key=uuid.uuid4().hex,
    )
    assert endpoint.secret.startswith("whsec_") and endpoint.status == m.WebhookEndpointStatusEnum.ENABLED
    process(payment_method="pm_card_visa", order_id=f"{order}-webhook")
    assert call("webhook_endpoints.list", 200, limit=5).results[0].id == endpoint.id
    assert call("webhook_endpoints.retrieve", 200, endpoint.id).url == endpoint.url
    assert call("webhook_endpoints.retrieve", 404, "we_missing").error.code
    deliveries = call("webhook_endpoints.deliveries", 200, endpoint.id, limit=10).results
    assert {d.event_type for d in deliveries} >= {"payment.created", "payment.succeeded"}
    assert any(d.attempts >= 1 and d.last_error for d in deliveries)  # the port is closed
    rotated = call("webhook_endpoints.rotate_secret", 200, endpoint.id, idempotency_key=uuid.uuid4().hex)
    assert rotated.secret != endpoint.secret
    assert call("webhook_endpoints.delete", 200, endpoint.id).deleted is True

    assert call.called == operation_ids(client_package)
