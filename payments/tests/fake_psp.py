"""A fake PSP with Stripe's semantics, in-process, behind payments.providers.

It stands where stripe_integration.provider.StripeProvider stands
(settings.PAYMENT_PROVIDER), so the services, selectors and API handlers run
as they do in production, and only the network and Stripe are replaced. What
it keeps of Stripe, as the stand-ins and stripe-mock show it:

- PaymentIntents created and confirmed in one call (confirm=true), with the
  statuses succeeded, requires_action (3-D Secure), requires_capture (manual
  capture), requires_payment_method (after a decline) and canceled; capture
  of all or part of what was authorized; cancel before capture.
- Refunds, never beyond what was captured and not refunded yet.
- Idempotency keys: the same key with the same parameters answers the stored
  answer (a decline included, as Stripe stores results of requests that
  started executing); other parameters are an idempotency error; a key whose
  first request is still running is a 409; a key is forgotten after
  IDEMPOTENCY_WINDOW.
- Search by metadata, with an index lag (SEARCH_LAG): an object younger than
  that is not found yet. Lists are up to date, as Stripe's are.
- Errors raised as stripe-python raises them and translated by the gateway's
  one table (stripe_integration.client.errors), with the same "outcome may be
  unknown" flag per call as the real client: a decline, 429, 5xx, 401/403, a
  timeout before the effect and a timeout after it.

Time comes from a clock the test controls (SimClock), which also stands in
for django.utils.timezone.now while it is installed, so leases, windows,
expiries and reconciliation ages move only when the test says so.

A test arms faults (`psp.fault("charge", "timeout_after")`) and may register
an `interleave` hook, called at step boundaries inside each call ("before"
the effect, with the key in flight, and "after" it, before the answer gets
back): that is where a simulation runs another request, a webhook or a job
between two steps of this one.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import stripe

from payments.providers import (
    CardInput,
    CardSummary,
    ChargeRequest,
    ChargeResult,
    ConfirmRequest,
    DisputeResult,
    PaymentMethodResult,
    RefundRequest,
    RefundResult,
)
from stripe_integration.client.convert import charge_result, refund_result
from stripe_integration.client.errors import stripe_error_translate

IDEMPOTENCY_WINDOW = timedelta(hours=24)
SEARCH_LAG = timedelta(seconds=60)

# Each call and whether its outcome may be unknown when it fails without an
# answer, as stripe_integration.client flags them (a create that may have
# happened; a read that certainly did nothing).
_UNKNOWN_ON_FAILURE = {
    "tokenize_card": False,
    "charge": True,
    "confirm": True,
    "retrieve_charge": False,
    "find_charges": False,
    "retrieve_refund": False,
    "list_refunds": False,
    "retrieve_dispute": False,
    "refund": True,
    "capture": True,
    "cancel": True,
}

FAULT_KINDS = (
    "rate_limited",  # 429 before the effect
    "server_error",  # 5xx before the effect
    "unauthorized",  # 401: a rotated or restricted key
    "timeout_before",  # no answer; the request never reached the PSP
    "timeout_after",  # no answer; the PSP made the effect and stored it under the key
    "server_error_stored",  # 5xx after the request began executing: Stripe stores that answer under the key
    "refused",  # 400: the PSP refuses the operation itself (a disputed charge cannot be refunded)
)

# Test payment methods, as Stripe names them, and the raw test cards of the README.
_BEHAVIOUR_BY_METHOD = {
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
_BEHAVIOUR_BY_NUMBER = {
    "4242424242424242": "succeed",
    "5555555555554444": "succeed",
    "4000002500003155": "authenticate",
    "4000000000003220": "authenticate",
    "4000000000000341": "decline",
    "4000000000000002": "decline",
}


class SimClock:
    """The time of a test: starts at a fixed instant and moves only when told."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass
class _KeyRecord:
    operation: str
    params: str
    created: datetime
    in_flight: bool = True
    outcome: tuple | None = None  # ("ok", result) or ("error", stripe exception)


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


class FakePsp:
    """One PSP account. Implements payments.providers.PaymentProvider."""

    def __init__(self, clock: SimClock | None = None):
        self.clock = clock or SimClock()
        self.intents: dict[str, FakeIntent] = {}
        self.refunds_by_id: dict[str, FakeRefund] = {}
        self.disputes: dict[str, DisputeResult] = {}
        self.methods: dict[str, str] = dict(_BEHAVIOUR_BY_METHOD)
        self.keys: dict[str, _KeyRecord] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, what came of it)
        self.events: list[dict] = []  # webhook events, in the order the PSP made them
        self._faults: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        # A label the test sets ("request", "reconcile", …), kept on each intent created.
        self.context = "request"
        self.request_key = ""
        # (operation, phase, key) -> None; called "before" and "after" each effect.
        self.interleave: Callable[[str, str, str], None] | None = None

    # --- what a test controls --------------------------------------------------------

    def fault(self, operation: str, kind: str) -> None:
        """The next call of `operation` ("*" for any) fails this way."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.append((operation, kind))

    def faults_pending(self) -> int:
        return len(self._faults)

    def clear_faults(self) -> None:
        self._faults.clear()

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
            self.methods[pm_id] = _BEHAVIOUR_BY_NUMBER.get(card.number, "succeed")
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
            "retrieve_charge", "", {}, lambda: self._intent_result(self._intent(payment_intent_id))
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
                self._intent_result(intent) for intent in sorted(found, key=lambda i: i.created, reverse=True)
            ]

        return self._call("find_charges", "", {}, effect)

    def retrieve_refund(self, *, refund_id: str) -> RefundResult:
        def effect():
            if refund_id not in self.refunds_by_id:
                raise stripe.InvalidRequestError(
                    f"No such refund: '{refund_id}'", "id", code="resource_missing", http_status=404
                )
            return self._refund_result(self.refunds_by_id[refund_id])

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
            return [self._refund_result(self.refunds_by_id[r]) for r in intent.refunds]

        return self._call("list_refunds", "", {}, effect)

    def refund(self, *, request: RefundRequest) -> RefundResult:
        params = {
            "payment_intent": request.payment_intent_id,
            "amount": request.amount_minor,
            "metadata": request.metadata,
            "reason": request.reason,
        }
        return self._call("refund", request.idempotency_key, params, lambda: self._create_refund(request))

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
            return self._intent_result(intent)

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
            return self._intent_result(intent)

        return self._call("cancel", idempotency_key, {"payment_intent": payment_intent_id}, effect)

    # --- the account's books, for invariants -----------------------------------------

    def intents_of(self, payment_uuid: str) -> list[FakeIntent]:
        return [i for i in self.intents.values() if i.metadata.get("gateway_payment_uuid") == payment_uuid]

    def captured(self, intent: FakeIntent) -> int:
        return intent.amount_received

    def refunded(self, intent: FakeIntent, *, statuses=("succeeded",)) -> int:
        return sum(
            self.refunds_by_id[r].amount for r in intent.refunds if self.refunds_by_id[r].status in statuses
        )

    def money_taken(self, payment_uuid: str) -> int:
        """What the payer has given up for this payment: captured, plus what is
        authorized and held, less refunds that are not failed."""
        return sum(
            i.amount_received + i.amount_capturable - self.refunded(i, statuses=("succeeded", "pending"))
            for i in self.intents_of(payment_uuid)
        )

    # --- inside ----------------------------------------------------------------------

    def _next(self) -> int:
        return next(self._ids)

    def _call(self, operation: str, key: str, params: dict, effect: Callable):
        unknown = _UNKNOWN_ON_FAILURE[operation]
        fault = self._take_fault(operation)
        if fault in ("rate_limited", "server_error", "unauthorized", "timeout_before", "refused"):
            self.calls.append((operation, fault))
            raise self._translate(self._fault_error(fault), unknown)
        if key:
            outcome = self._idempotent(operation, key, params, effect, unknown, fault)
        else:
            self._hook(operation, "before", key)
            outcome = self._run(effect)
            self._hook(operation, "after", key)
        if fault == "timeout_after":
            self.calls.append((operation, "timeout_after"))
            raise self._translate(self._fault_error(fault), unknown)
        self.calls.append((operation, outcome[0]))
        kind, value = outcome
        if kind == "error":
            raise self._translate(value, unknown)
        return copy.deepcopy(value)

    def _idempotent(self, operation, key, params, effect, unknown, fault):
        now = self.clock.now()
        fingerprint = json.dumps([operation, params], sort_keys=True, default=str)
        record = self.keys.get(key)
        if record is not None and record.created + IDEMPOTENCY_WINDOW <= now:
            del self.keys[key]  # forgotten: the key is new again
            record = None
        if record is not None:
            if record.in_flight:
                self.calls.append((operation, "key_in_flight"))
                error = stripe.IdempotencyError(
                    "There is currently another in-progress request using this Stripe-Idempotency-Key.",
                    http_status=409,
                    code="idempotency_key_in_use",
                )
                raise self._translate(error, unknown)
            if record.params != fingerprint:
                self.calls.append((operation, "key_reused"))
                error = stripe.IdempotencyError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    http_status=400,
                    code="idempotency_key_reused",
                )
                raise self._translate(error, unknown)
            return record.outcome
        record = _KeyRecord(operation=operation, params=fingerprint, created=now)
        self.keys[key] = record
        try:
            self._hook(operation, "before", key)
            if fault == "server_error_stored":
                record.outcome = ("error", self._fault_error("server_error"))
            else:
                record.outcome = self._run(effect)
        except BaseException:
            del self.keys[key]  # nothing executed: nothing stored
            raise
        finally:
            record.in_flight = False
        self._hook(operation, "after", key)
        return record.outcome

    def _hook(self, operation: str, phase: str, key: str) -> None:
        if self.interleave is not None:
            self.interleave(operation, phase, key)

    @staticmethod
    def _run(effect) -> tuple:
        try:
            return ("ok", effect())
        except stripe.StripeError as exc:
            return ("error", exc)

    def _take_fault(self, operation: str) -> str:
        for index, (target, kind) in enumerate(self._faults):
            if target in (operation, "*"):
                del self._faults[index]
                return kind
        return ""

    @staticmethod
    def _fault_error(kind: str) -> stripe.StripeError:
        if kind == "rate_limited":
            return stripe.RateLimitError("Too many requests.", http_status=429, code="rate_limit")
        if kind == "server_error":
            return stripe.APIError("An error occurred with our API.", http_status=500)
        if kind == "unauthorized":
            return stripe.AuthenticationError("Invalid API Key provided.", http_status=401)
        if kind == "refused":
            return stripe.InvalidRequestError(
                "The charge has been disputed and cannot be refunded.",
                None,
                code="charge_disputed",
                http_status=400,
            )
        return stripe.APIConnectionError("Request timed out.")

    @staticmethod
    def _translate(error: stripe.StripeError, unknown: bool):
        # As the real client: a card error on a charge is a definite answer.
        if isinstance(error, stripe.CardError):
            unknown = False
        return stripe_error_translate(error, outcome_may_be_unknown=unknown)

    def _intent(self, payment_intent_id: str) -> FakeIntent:
        if payment_intent_id not in self.intents:
            raise stripe.InvalidRequestError(
                f"No such payment_intent: '{payment_intent_id}'",
                "intent",
                code="resource_missing",
                http_status=404,
            )
        return self.intents[payment_intent_id]

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
            return self._intent_result(intent)
        behaviour = self.methods.get(method)
        if behaviour is None:
            raise stripe.InvalidRequestError(
                f"No such PaymentMethod: '{method}'",
                "payment_method",
                code="resource_missing",
                http_status=400,
            )
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
        behaviour = self.methods.get(method)
        if behaviour is None:
            raise stripe.InvalidRequestError(
                f"No such PaymentMethod: '{method}'",
                "payment_method",
                code="resource_missing",
                http_status=400,
            )
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
            return self._intent_result(intent)
        self._authorize(intent)
        return self._intent_result(intent)

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
        return self._refund_result(refund)

    def _intent_dict(self, intent: FakeIntent) -> dict:
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
            "next_action": self._next_action(intent),
            "created": int(intent.created.timestamp()),
        }

    @staticmethod
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

    def _intent_result(self, intent: FakeIntent) -> ChargeResult:
        return charge_result(self._intent_dict(intent))

    def _refund_result(self, refund: FakeRefund) -> RefundResult:
        return refund_result(
            {
                "id": refund.id,
                "amount": refund.amount,
                "status": refund.status,
                "metadata": dict(refund.metadata),
                "payment_intent": refund.payment_intent,
            }
        )

    def _event(self, type: str, intent: FakeIntent, *, charge: bool = False) -> None:
        body = self._intent_dict(intent)
        if charge:
            body = {
                "id": intent.latest_charge,
                "object": "charge",
                "payment_intent": intent.id,
                "metadata": dict(intent.metadata),
            }
        self.events.append(
            {
                "id": f"evt_fake{self._next()}",
                "object": "event",
                "type": type,
                "created": int(self.clock.now().timestamp()),
                "livemode": False,
                "data": {"object": body},
            }
        )


_current: FakePsp | None = None


def install(psp: FakePsp | None) -> None:
    global _current
    _current = psp


def current() -> FakePsp:
    """settings.PAYMENT_PROVIDER = "payments.tests.fake_psp.current" while a test uses it."""
    if _current is None:
        raise RuntimeError("No fake PSP is installed; use the fake_psp fixture.")
    return _current
