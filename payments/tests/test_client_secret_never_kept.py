"""A PaymentIntent's client_secret goes to the merchant in the answer that
made it, and is kept nowhere: not in the payment's next_action, not in a stored
Idempotency-Key answer, not in a stored webhook (fake PSP)."""

import json

import pytest

from payments.models import IdempotencyKey, Payment
from payments.tests.fixtures import card

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


@pytest.mark.reliability(
    "Security hardening",
    "Card data and secrets at rest: no Idempotency-Key fingerprint for a raw card refused before any work (a "
    "migration forgets earlier ones); client_secret kept nowhere (next_action, stored answers, webhooks); "
    "the cache holds JSON, never pickle; disputes re-fetched and checked against the payment's charge",
)
def test_the_client_secret_is_answered_once_and_stored_nowhere(fake_pay, api):
    response = fake_pay(
        card=card("4000002500003155"),
        return_url="https://shop.example/back",
        headers={"HTTP_IDEMPOTENCY_KEY": "cs-1"},
    )
    body = response.json()
    secret = body["client_secret"]
    payment = Payment.objects.get(public_id=body["payment_id"])
    replay = fake_pay(
        card=card("4000002500003155"),
        return_url="https://shop.example/back",
        headers={"HTTP_IDEMPOTENCY_KEY": "cs-1"},
    )
    later = api.get(f"/api/v1/payments/{body['payment_id']}").json()

    assert body["status"] == "requires_action" and "_secret_" in secret
    assert secret in body["next_action"]["redirect_to_url"]["url"]  # the payer's redirect, whole, this once
    assert secret not in json.dumps(payment.next_action)
    assert "payment_intent_client_secret=redacted" in payment.next_action["redirect_to_url"]["url"]
    assert secret not in json.dumps(IdempotencyKey.objects.get(key="cs-1").response_body)
    assert secret not in json.dumps(replay.json()) and secret not in json.dumps(later)


@pytest.mark.reliability(
    "Security hardening",
    "Card data and secrets at rest: no Idempotency-Key fingerprint for a raw card refused before any work (a "
    "migration forgets earlier ones); client_secret kept nowhere (next_action, stored answers, webhooks); "
    "the cache holds JSON, never pickle; disputes re-fetched and checked against the payment's charge",
)
def test_a_stored_webhook_keeps_no_client_secret(fake_pay, settings):
    from rest_framework.test import APIClient

    from conftest import stripe_signature
    from stripe_integration.models import StripeWebhookEvent

    event = {
        "id": "evt_cs_1",
        "type": "payment_intent.requires_action",
        "data": {
            "object": {
                "id": "pi_fakeX",
                "object": "payment_intent",
                "client_secret": "pi_fakeX_secret_abcDEF123",
                "next_action": {
                    "redirect_to_url": {
                        "url": "https://h/?payment_intent_client_secret=pi_fakeX_secret_abcDEF123&x=1"
                    }
                },
            }
        },
    }
    payload = json.dumps(event)
    APIClient().post(
        "/api/v1/stripe/webhook",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature(payload, settings.STRIPE_WEBHOOK_SECRET),
    )

    stored = StripeWebhookEvent.objects.get(event_id="evt_cs_1").payload
    assert "abcDEF123" not in stored
    assert json.loads(stored)["data"]["object"]["client_secret"] == "pi_fakeX_secret_redacted"
