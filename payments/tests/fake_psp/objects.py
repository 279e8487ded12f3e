"""The fake PSP's objects: PaymentIntents and refunds as the account keeps
them, and the shapes Stripe gives them on the wire (the same conversion as the
real client's, stripe_integration.client.convert)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from payments.providers import ChargeResult, RefundResult
from stripe_integration.client.convert import charge_result, refund_result


@dataclass
class FakeIntent:
    id: str
    amount: int
    currency: str
    status: str
    payment_method: str
    capture_method: str
    metadata: dict
    created: datetime
    amount_capturable: int = 0
    amount_received: int = 0
    latest_charge: str = ""
    last_payment_error: dict | None = None
    refunds: list[str] = field(default_factory=list)
    context: str = "request"  # what the gateway was doing when it created it (a simulation's label)
    declines: int = 0  # times the PSP declined or failed to authenticate it
    request_key: str = ""  # the Idempotency-Key of the merchant's request that made it (a simulation's label)
    return_url: str = ""
    created_unconfirmed: bool = False  # confirm=false: the payer confirms it later


@dataclass
class FakeRefund:
    id: str
    payment_intent: str
    amount: int
    status: str
    metadata: dict
    reason: str
    created: datetime


def intent_as_dict(intent: FakeIntent) -> dict:
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_received": intent.amount_received,
        "amount_capturable": intent.amount_capturable,
        "currency": intent.currency,
        "status": intent.status,
        "capture_method": intent.capture_method,
        "metadata": dict(intent.metadata),
        "payment_method": intent.payment_method,
        "latest_charge": intent.latest_charge or None,
        "last_payment_error": intent.last_payment_error,
        "client_secret": f"{intent.id}_secret_fake",
        "next_action": _next_action(intent),
        "created": int(intent.created.timestamp()),
    }


def _next_action(intent: FakeIntent) -> dict | None:
    """Stripe's: with a return_url, a redirect whose URL carries the client secret."""
    if intent.status != "requires_action":
        return None
    if not intent.return_url:
        return {"type": "use_stripe_sdk"}
    secret = f"{intent.id}_secret_fake"
    url = (
        f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_fake&payment_intent={intent.id}"
        f"&payment_intent_client_secret={secret}&publishable_key=pk_test_fake"
    )
    return {"type": "redirect_to_url", "redirect_to_url": {"return_url": intent.return_url, "url": url}}


def intent_as_result(intent: FakeIntent) -> ChargeResult:
    return charge_result(intent_as_dict(intent))


def refund_as_result(refund: FakeRefund) -> RefundResult:
    return refund_result(
        {
            "id": refund.id,
            "amount": refund.amount,
            "status": refund.status,
            "metadata": dict(refund.metadata),
            "payment_intent": refund.payment_intent,
        }
    )
