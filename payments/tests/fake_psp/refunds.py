"""The fake PSP's refunds, never beyond what was captured and not refunded yet,
and the disputes a test opens (as the cardholder's bank would)."""

from __future__ import annotations

import stripe

from payments.providers import DisputeResult, RefundRequest, RefundResult
from payments.tests.fake_psp.objects import FakeRefund, refund_as_result


class RefundsAndDisputes:
    """A part of FakePsp (payments.tests.fake_psp.account), which holds the
    refunds (`refunds_by_id`) and the disputes (`disputes`)."""

    def refund(self, *, request: RefundRequest) -> RefundResult:
        params = {
            "payment_intent": request.payment_intent_id,
            "amount": request.amount_minor,
            "metadata": request.metadata,
            "reason": request.reason,
        }
        return self._call("refund", request.idempotency_key, params, lambda: self._create_refund(request))

    def retrieve_refund(self, *, refund_id: str) -> RefundResult:
        def effect():
            if refund_id not in self.refunds_by_id:
                raise stripe.InvalidRequestError(
                    f"No such refund: '{refund_id}'", "id", code="resource_missing", http_status=404
                )
            return refund_as_result(self.refunds_by_id[refund_id])

        return self._call("retrieve_refund", "", {}, effect)

    def dispute_open(self, *, payment_intent_id: str, reason: str = "fraudulent") -> str:
        """The cardholder's bank disputes the charge (the test's doing, as the payer's 3DS)."""
        intent = self._intent(payment_intent_id)
        dispute = DisputeResult(
            dispute_id=f"dp_fake{self._next()}",
            charge_id=intent.latest_charge,
            payment_intent_id=intent.id,
            amount_minor=intent.amount_received,
            currency=intent.currency,
            reason=reason,
            status="needs_response",
        )
        self.disputes[dispute.dispute_id] = dispute
        return dispute.dispute_id

    def retrieve_dispute(self, *, dispute_id: str) -> DisputeResult:
        def effect():
            if dispute_id not in self.disputes:
                raise stripe.InvalidRequestError(
                    f"No such dispute: '{dispute_id}'", "id", code="resource_missing", http_status=404
                )
            return self.disputes[dispute_id]

        return self._call("retrieve_dispute", "", {}, effect)

    def list_refunds(self, *, payment_intent_id: str) -> list[RefundResult]:
        def effect():
            intent = self._intent(payment_intent_id)
            return [refund_as_result(self.refunds_by_id[r]) for r in intent.refunds]

        return self._call("list_refunds", "", {}, effect)

    def _create_refund(self, request: RefundRequest) -> RefundResult:
        intent = self._intent(request.payment_intent_id)
        if intent.status != "succeeded":
            raise stripe.InvalidRequestError(
                "This PaymentIntent has no successful charge to refund.",
                "payment_intent",
                code="charge_not_refundable",
                http_status=400,
            )
        left = intent.amount_received - self.refunded(intent, statuses=("succeeded", "pending"))
        if request.amount_minor > left:
            raise stripe.InvalidRequestError(
                f"Refund amount ({request.amount_minor}) is greater than "
                f"unrefunded amount on charge ({left})",
                "amount",
                code="amount_too_large",
                http_status=400,
            )
        refund = FakeRefund(
            id=f"re_fake{self._next()}",
            payment_intent=intent.id,
            amount=request.amount_minor,
            status="succeeded",
            metadata=dict(request.metadata),
            reason=request.reason,
            created=self.clock.now(),
        )
        self.refunds_by_id[refund.id] = refund
        intent.refunds.append(refund.id)
        self._event("charge.refunded", intent, charge=True)
        return refund_as_result(refund)
