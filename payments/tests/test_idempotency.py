"""Idempotency-Key at the API edge: optional by default (the seed's clients send
none), required with IDEMPOTENCY_KEY_REQUIRED. The replay semantics are tested in
payments/tests/services/ and gateway/tests/scenarios/test_exactly_once.py."""

import pytest

from payments.models import Payment

pytestmark = pytest.mark.django_db


def test_without_a_key_a_retry_is_a_second_payment_unless_keys_are_required(pay, settings):
    """What the docs say: the seed's clients send no key, so none is required by
    default, and then the same body twice is two payments. With
    IDEMPOTENCY_KEY_REQUIRED a write without one is refused before anything."""
    first, second = pay(order_id="o-nokey"), pay(order_id="o-nokey")
    assert first.status_code == second.status_code == 201
    assert first.json()["payment_id"] != second.json()["payment_id"]

    settings.IDEMPOTENCY_KEY_REQUIRED = True
    refused = pay(order_id="o-required")

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "idempotency_key_required"
    assert refused.json()["error"]["param"] == "Idempotency-Key"
    assert not Payment.objects.filter(order_id="o-required").exists()
    assert pay(order_id="o-required", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"}).status_code == 201
