"""The payment provider (PSP) interface the payments services call.

Its one implementation is stripe_integration.provider.StripeProvider; the
services never see Stripe objects, only these dataclasses. Errors come back as
the gateway's own error family (CardDeclined, InvalidRequest, PspError,
ServiceUnavailable) or as PspOutcomeUnknown when a call may or may not have
happened (a timeout): then the payment must not be marked failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from gateway.core.errors import CardDeclined, InvalidRequest, ServiceUnavailable


class PspOutcomeUnknown(ServiceUnavailable):
    """The PSP did not answer in time: the charge or refund may have happened."""

    default_code = "psp_timeout"
    default_detail = "The payment provider did not answer in time; the outcome will be reconciled."


def psp_refused(error: Exception) -> bool:
    """Whether a PSP error is a definite refusal of the operation itself (a
    decline, a request the PSP rejects): only then may a payment be failed or a
    refund given up. Anything else (an unknown outcome, a rejected API key, a
    rate limit, an answer we cannot read) says nothing about the card: the
    payment or refund stays as it is, retryable and reconcilable."""
    return isinstance(error, (CardDeclined, InvalidRequest))


@dataclass(frozen=True)
class CardSummary:
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class CardInput:
    """A raw card on its way to tokenization. Never stored, logged or serialized."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str
    name: str = ""

    def __repr__(self) -> str:  # keeps the number out of tracebacks and logs
        return f"CardInput(last4={self.number[-4:]!r})"


@dataclass(frozen=True)
class PaymentMethodResult:
    payment_method_id: str
    card: CardSummary


@dataclass(frozen=True)
class ChargeRequest:
    amount_minor: int
    currency: str
    idempotency_key: str
    payment_method_id: str = ""
    token: str = ""
    description: str = ""
    metadata: dict = field(default_factory=dict)
    return_url: str = ""
    capture_method: str = "automatic"  # or "manual": authorize now, capture later
    # False: create the PaymentIntent without a payment method, for the payer to
    # confirm (status requires_payment_method, with a client secret).
    confirm: bool = True


@dataclass(frozen=True)
class ConfirmRequest:
    """The payer's card for a PaymentIntent created with confirm=False: a PSP
    token (tok_…) or PaymentMethod (pm_…) made in the payer's browser."""

    payment_intent_id: str
    idempotency_key: str
    payment_method_id: str = ""
    token: str = ""
    return_url: str = ""


@dataclass(frozen=True)
class ChargeResult:
    """The PSP's view of a charge. status is one of ours: succeeded,
    requires_action, requires_capture, processing, failed, canceled, or
    requires_payment_method (created unconfirmed, no attempt failed yet)."""

    status: str
    payment_intent_id: str
    charge_id: str = ""
    amount_received_minor: int = 0
    card: CardSummary | None = None
    payment_method_id: str = ""
    next_action: dict | None = None
    client_secret: str = ""
    failure_code: str = ""
    failure_message: str = ""
    decline_code: str = ""
    receipt_url: str = ""
    amount_minor: int = 0
    currency: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RefundRequest:
    payment_intent_id: str
    amount_minor: int
    idempotency_key: str
    reason: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # pending, succeeded or failed
    amount_minor: int
    failure_reason: str = ""
    metadata: dict = field(default_factory=dict)
    payment_intent_id: str = ""


@dataclass(frozen=True)
class DisputeResult:
    dispute_id: str
    charge_id: str
    payment_intent_id: str
    amount_minor: int
    currency: str
    reason: str
    status: str


class PaymentProvider(Protocol):
    def tokenize_card(self, *, card: CardInput) -> PaymentMethodResult: ...

    def charge(self, *, request: ChargeRequest) -> ChargeResult: ...

    def confirm(self, *, request: ConfirmRequest) -> ChargeResult:
        """Confirms an unconfirmed PaymentIntent with the payer's card."""
        ...

    def retrieve_charge(self, *, payment_intent_id: str) -> ChargeResult: ...

    def find_charges(self, *, metadata: dict[str, str]) -> list[ChargeResult]:
        """The PSP's charges carrying all these metadata pairs (a search)."""
        ...

    def retrieve_refund(self, *, refund_id: str) -> RefundResult: ...

    def list_refunds(self, *, payment_intent_id: str) -> list[RefundResult]: ...

    def retrieve_dispute(self, *, dispute_id: str) -> DisputeResult: ...

    def refund(self, *, request: RefundRequest) -> RefundResult: ...

    def capture(self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str) -> ChargeResult: ...

    def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> ChargeResult: ...


def get_provider() -> PaymentProvider:
    return import_string(settings.PAYMENT_PROVIDER)()
