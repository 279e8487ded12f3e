"""Fixtures and helpers for tests that call the payment API (loaded by the root conftest)."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from payments.services.api_clients import api_client_create


@pytest.fixture
def merchant():
    client, raw_key = api_client_create(name="merchant")
    client.raw_key = raw_key
    return client


@pytest.fixture
def api(merchant):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")
    return api


@pytest.fixture
def other_api():
    _, raw_key = api_client_create(name="other-merchant")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api


def card(number="4242424242424242", cvc="123"):
    return {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": cvc, "name": "Jane Doe"}


def payment_body(**overrides):
    body = {"order_id": "order_1", "amount": "19.99", "currency": "usd", "card": card()}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture
def pay(api, localstripe):
    """POSTs /payments/process with a valid body, with overrides."""

    def _pay(headers=None, **overrides):
        return api.post(
            "/api/v1/payments/process", payment_body(**overrides), format="json", **(headers or {})
        )

    return _pay


def run_at_once(count: int, action) -> list:
    """Runs `action` in `count` threads released together, each on its own database
    connection (tests need django_db(transaction=True)); returns their results."""
    barrier, results = threading.Barrier(count), []

    def run():
        try:
            barrier.wait()
            results.append(action())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def psp_intents(**metadata: str) -> list:
    """The PaymentIntents at localstripe whose metadata holds all these pairs, by
    Stripe's search API (which our localstripe launcher serves): how the tests
    count charges at the PSP."""
    from stripe_integration.client import stripe_client

    query = " AND ".join(f"metadata['{key}']:'{value}'" for key, value in metadata.items())
    return list(stripe_client().v1.payment_intents.search(params={"query": query}).data)


def psp_refunds(payment_intent_id: str) -> list:
    """The refunds of one PaymentIntent at localstripe."""
    from stripe_integration.client import refund_list_for_payment_intent

    return refund_list_for_payment_intent(payment_intent_id=payment_intent_id)


@pytest.fixture
def sim_clock(monkeypatch):
    """The test's clock (payments.tests.fake_psp.SimClock): django.utils.timezone.now
    reads it, so leases, windows, expiries and ages move only by clock.advance()."""
    from django.utils import timezone

    from payments.tests.fake_psp import SimClock

    clock = SimClock()
    monkeypatch.setattr(timezone, "now", clock.now)
    return clock


@pytest.fixture
def fake_psp(settings, sim_clock):
    """The in-process fake PSP with Stripe's semantics (payments.tests.fake_psp),
    as the gateway's payment provider, on the test's clock."""
    from payments.tests import fake_psp as module

    psp = module.FakePsp(sim_clock)
    module.install(psp)
    settings.PAYMENT_PROVIDER = "payments.tests.fake_psp.current"
    yield psp
    module.install(None)


@pytest.fixture
def fake_pay(api, fake_psp):
    """POSTs /payments/process with a valid body, with overrides, to the fake PSP."""

    def _pay(headers=None, **overrides):
        return api.post(
            "/api/v1/payments/process", payment_body(**overrides), format="json", **(headers or {})
        )

    return _pay
