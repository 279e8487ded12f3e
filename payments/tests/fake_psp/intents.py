"""The fake PSP's PaymentIntents, with Stripe's semantics: created and confirmed
in one call (confirm=true) or left for the payer to confirm (confirm=false),
with the statuses succeeded, requires_action (3-D Secure), requires_capture
(manual capture), requires_payment_method (after a decline) and canceled;
capture of all or part of what was authorized; cancel before capture; search by
metadata with an index lag (SEARCH_LAG: an object younger than that is not found
yet). Also the payer's own doings: 3-D Secure and a confirmation in the browser.
"""

from __future__ import annotations

from datetime import timedelta

import stripe

from payments.providers import (
    CardInput,
    CardSummary,
    ChargeRequest,
    ChargeResult,
    ConfirmRequest,
    PaymentMethodResult,
)
from payments.tests.fake_psp.objects import FakeIntent, intent_as_result

SEARCH_LAG = timedelta(seconds=60)

# Test payment methods, as Stripe names them, and the raw test cards of the README.
BEHAVIOUR_BY_METHOD = {
    "pm_card_visa": "succeed",
    "pm_card_mastercard": "succeed",
    "pm_card_threeDSecure2Required": "authenticate",
    "pm_card_authenticationRequired": "authenticate",
    "pm_card_chargeDeclined": "decline",
    "pm_card_visa_chargeDeclined": "decline",
    "tok_visa": "succeed",
    "tok_chargeDeclined": "decline",
    "tok_threeDSecure2Required": "authenticate",
}
BEHAVIOUR_BY_NUMBER = {
    "4242424242424242": "succeed",
    "5555555555554444": "succeed",
    "4000002500003155": "authenticate",
    "4000000000003220": "authenticate",
    "4000000000000341": "decline",
    "4000000000000002": "decline",
}


class PaymentIntents:
    """A part of FakePsp (payments.tests.fake_psp.account), which holds the
    intents (`intents`) and the payment methods' behaviours (`methods`)."""

    # --- what a test controls --------------------------------------------------------

    def authenticate(self, payment_intent_id: str, *, success: bool = True) -> None:
        """The payer completes (or fails) 3-D Secure for a requires_action intent."""
        intent = self.intents[payment_intent_id]
        if intent.status == "requires_payment_method" and intent.declines and success:
            # The payer tries again on the same PaymentIntent (Stripe lets the client
            # confirm it again with a new payment method), after we recorded it failed.
            self._authorize(intent)
            return
        if intent.status != "requires_action":
            return
        if success:
            self._authorize(intent)
        else:
            intent.status = "requires_payment_method"
            intent.declines += 1
            intent.last_payment_error = {
                "code": "payment_intent_authentication_failure",
                "message": "The payer did not authenticate.",
            }
            self._event("payment_intent.payment_failed", intent)

    # --- what the gateway sees -------------------------------------------------------

    def tokenize_card(self, *, card: CardInput) -> PaymentMethodResult:
        def effect():
            pm_id = f"pm_fake{self._next()}"
            self.methods[pm_id] = BEHAVIOUR_BY_NUMBER.get(card.number, "succeed")
            return PaymentMethodResult(
                payment_method_id=pm_id,
                card=CardSummary(
                    brand="visa", last4=card.number[-4:], exp_month=card.exp_month, exp_year=card.exp_year
                ),
            )

        return self._call("tokenize_card", "", {}, effect)

    def charge(self, *, request: ChargeRequest) -> ChargeResult:
        params = {
            "amount": request.amount_minor,
            "currency": request.currency,
            "payment_method": request.payment_method_id or request.token,
            "metadata": request.metadata,
            "capture_method": request.capture_method,
            "return_url": request.return_url,
            "description": request.description,
            "confirm": request.confirm,
        }
        return self._call("charge", request.idempotency_key, params, lambda: self._create_intent(request))

    def confirm(self, *, request: ConfirmRequest) -> ChargeResult:
        method = request.payment_method_id or request.token
        params = {"payment_intent": request.payment_intent_id, "payment_method": method}
        return self._call(
            "confirm",
            request.idempotency_key,
            params,
            lambda: self._confirm_intent(self._intent(request.payment_intent_id), method),
        )

    def payer_confirm(self, payment_intent_id: str, method: str) -> None:
        """The payer confirms in the browser with Stripe.js (not through the
        gateway): the gateway learns of it from the PSP's events."""
        try:
            self._confirm_intent(self._intent(payment_intent_id), method)
        except stripe.CardError:
            pass  # the decline is on the intent (last_payment_error) and in the events

    def retrieve_charge(self, *, payment_intent_id: str) -> ChargeResult:
        return self._call(
            "retrieve_charge", "", {}, lambda: intent_as_result(self._intent(payment_intent_id))
        )

    def find_charges(self, *, metadata: dict[str, str]) -> list[ChargeResult]:
        def effect():
            indexed_before = self.clock.now() - SEARCH_LAG
            found = [
                intent
                for intent in self.intents.values()
                if intent.created <= indexed_before
                and all(intent.metadata.get(key) == value for key, value in metadata.items())
            ]
            return [
                intent_as_result(intent) for intent in sorted(found, key=lambda i: i.created, reverse=True)
            ]

        return self._call("find_charges", "", {}, effect)

    def capture(self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str) -> ChargeResult:
        def effect():
            intent = self._intent(payment_intent_id)
            if intent.status != "requires_capture":
                raise stripe.InvalidRequestError(
                    f"This PaymentIntent could not be captured because it has a status of {intent.status}.",
                    None,
                    code="payment_intent_unexpected_state",
                    http_status=400,
                )
            if amount_minor > intent.amount_capturable:
                raise stripe.InvalidRequestError(
                    "The amount to capture is larger than what is capturable.",
                    "amount_to_capture",
                    code="amount_too_large",
                    http_status=400,
                )
            intent.amount_received = amount_minor
            intent.amount_capturable = 0
            intent.status = "succeeded"
            self._event("payment_intent.succeeded", intent)
            return intent_as_result(intent)

        params = {"payment_intent": payment_intent_id, "amount_to_capture": amount_minor}
        return self._call("capture", idempotency_key, params, effect)

    def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> ChargeResult:
        def effect():
            intent = self._intent(payment_intent_id)
            if intent.status not in ("requires_capture", "requires_action", "requires_payment_method"):
                raise stripe.InvalidRequestError(
                    f"You cannot cancel this PaymentIntent because it has a status of {intent.status}.",
                    None,
                    code="payment_intent_unexpected_state",
                    http_status=400,
                )
            intent.status = "canceled"
            intent.amount_capturable = 0
            self._event("payment_intent.canceled", intent)
            return intent_as_result(intent)

        return self._call("cancel", idempotency_key, {"payment_intent": payment_intent_id}, effect)

    # --- inside ----------------------------------------------------------------------

    def _intent(self, payment_intent_id: str) -> FakeIntent:
        if payment_intent_id not in self.intents:
            raise stripe.InvalidRequestError(
                f"No such payment_intent: '{payment_intent_id}'",
                "intent",
                code="resource_missing",
                http_status=404,
            )
        return self.intents[payment_intent_id]

    def _behaviour(self, method: str) -> str:
        """What paying with this payment method does: succeed, authenticate or decline."""
        behaviour = self.methods.get(method)
        if behaviour is None:
            raise stripe.InvalidRequestError(
                f"No such PaymentMethod: '{method}'",
                "payment_method",
                code="resource_missing",
                http_status=400,
            )
        return behaviour

    def _create_intent(self, request: ChargeRequest) -> ChargeResult:
        method = request.payment_method_id or request.token
        if not request.confirm:
            intent = FakeIntent(
                id=f"pi_fake{self._next()}",
                amount=request.amount_minor,
                currency=request.currency,
                status="requires_payment_method",
                payment_method="",
                capture_method=request.capture_method,
                metadata=dict(request.metadata),
                created=self.clock.now(),
                context=self.context,
                request_key=self.request_key,
                created_unconfirmed=True,
            )
            self.intents[intent.id] = intent
            self._event("payment_intent.created", intent)
            return intent_as_result(intent)
        self._behaviour(method)  # an unknown payment method is refused before any intent exists
        intent = FakeIntent(
            id=f"pi_fake{self._next()}",
            amount=request.amount_minor,
            currency=request.currency,
            status="requires_confirmation",
            payment_method=method,
            capture_method=request.capture_method,
            metadata=dict(request.metadata),
            created=self.clock.now(),
            context=self.context,
            request_key=self.request_key,
            return_url=request.return_url,
        )
        self.intents[intent.id] = intent
        self._event("payment_intent.created", intent)
        return self._confirm_intent(intent, method)

    def _confirm_intent(self, intent: FakeIntent, method: str) -> ChargeResult:
        """Stripe's confirm: only an intent waiting for a payment method or a
        confirmation; a canceled or succeeded one is refused."""
        if intent.status not in ("requires_payment_method", "requires_confirmation"):
            raise stripe.InvalidRequestError(
                f"This PaymentIntent's status is {intent.status}; it cannot be confirmed.",
                None,
                code="payment_intent_unexpected_state",
                http_status=400,
            )
        behaviour = self._behaviour(method)
        intent.payment_method = method
        intent.last_payment_error = None
        if behaviour == "decline":
            intent.status = "requires_payment_method"
            intent.declines += 1
            intent.last_payment_error = {
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            }
            self._event("payment_intent.payment_failed", intent)
            raise stripe.CardError(
                "Your card was declined.",
                None,
                "card_declined",
                http_status=402,
                json_body={"error": {"type": "card_error", **intent.last_payment_error}},
            )
        if behaviour == "authenticate":
            intent.status = "requires_action"
            self._event("payment_intent.requires_action", intent)
            return intent_as_result(intent)
        self._authorize(intent)
        return intent_as_result(intent)

    def _authorize(self, intent: FakeIntent) -> None:
        intent.latest_charge = f"ch_fake{self._next()}"
        if intent.capture_method == "manual":
            intent.status = "requires_capture"
            intent.amount_capturable = intent.amount
            self._event("payment_intent.amount_capturable_updated", intent)
        else:
            intent.status = "succeeded"
            intent.amount_received = intent.amount
            self._event("payment_intent.succeeded", intent)
