"""A fake PSP with Stripe's semantics, in-process, behind payments.providers.

It stands where stripe_integration.provider.StripeProvider stands
(settings.PAYMENT_PROVIDER = "payments.tests.fake_psp.current"), so the
services, selectors and API handlers run as they do in production, and only the
network and Stripe are replaced. It keeps of Stripe what the stand-ins and
stripe-mock show of it; each module says which part:

- account.py: one PSP account (FakePsp), its books and the webhook events it makes;
- intents.py: PaymentIntents (create, confirm, 3-D Secure, capture, cancel, search);
- refunds.py: refunds and disputes;
- objects.py: the intents and refunds it keeps, and their shapes on the wire;
- calls.py: how each call runs: idempotency keys, errors as the real client flags them;
- faults.py: the faults a test arms and the interleaving hooks at step boundaries;
- clock.py: the clock the test controls (SimClock), also django.utils.timezone.now.

This module installs the account the gateway uses while a test runs.
"""

from __future__ import annotations

from payments.tests.fake_psp.account import FakePsp
from payments.tests.fake_psp.calls import IDEMPOTENCY_WINDOW
from payments.tests.fake_psp.clock import SimClock
from payments.tests.fake_psp.faults import FAULT_KINDS
from payments.tests.fake_psp.intents import SEARCH_LAG
from payments.tests.fake_psp.objects import FakeIntent, FakeRefund

__all__ = [
    "FAULT_KINDS",
    "IDEMPOTENCY_WINDOW",
    "SEARCH_LAG",
    "FakeIntent",
    "FakePsp",
    "FakeRefund",
    "SimClock",
    "current",
    "install",
]

_current: FakePsp | None = None


def install(psp: FakePsp | None) -> None:
    global _current
    _current = psp


def current() -> FakePsp:
    """settings.PAYMENT_PROVIDER = "payments.tests.fake_psp.current" while a test uses it."""
    if _current is None:
        raise RuntimeError("No fake PSP is installed; use the fake_psp fixture.")
    return _current
