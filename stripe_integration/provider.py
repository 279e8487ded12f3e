"""Stripe as the gateway's payment provider (payments.providers.PaymentProvider)."""

from __future__ import annotations

from payments.providers import (
    CardInput,
    ChargeRequest,
    ChargeResult,
    ConfirmRequest,
    DisputeResult,
    PaymentMethodResult,
    RefundRequest,
    RefundResult,
)
from stripe_integration import client


class StripeProvider:
    def tokenize_card(self, *, card: CardInput) -> PaymentMethodResult:
        return client.payment_method_create(card=card)

    def charge(self, *, request: ChargeRequest) -> ChargeResult:
        return client.payment_intent_create(request=request)

    def confirm(self, *, request: ConfirmRequest) -> ChargeResult:
        return client.payment_intent_confirm(request=request)

    def retrieve_charge(self, *, payment_intent_id: str) -> ChargeResult:
        return client.payment_intent_retrieve(payment_intent_id=payment_intent_id)

    def find_charges(self, *, metadata: dict[str, str]) -> list[ChargeResult]:
        return client.payment_intent_search(metadata=metadata)

    def retrieve_refund(self, *, refund_id: str) -> RefundResult:
        return client.refund_retrieve(refund_id=refund_id)

    def list_refunds(self, *, payment_intent_id: str) -> list[RefundResult]:
        return client.refund_list_for_payment_intent(payment_intent_id=payment_intent_id)

    def retrieve_dispute(self, *, dispute_id: str) -> DisputeResult:
        return client.dispute_retrieve(dispute_id=dispute_id)

    def refund(self, *, request: RefundRequest) -> RefundResult:
        return client.refund_create(request=request)

    def capture(self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str) -> ChargeResult:
        return client.payment_intent_capture(
            payment_intent_id=payment_intent_id, amount_minor=amount_minor, idempotency_key=idempotency_key
        )

    def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> ChargeResult:
        return client.payment_intent_cancel(
            payment_intent_id=payment_intent_id, idempotency_key=idempotency_key
        )
