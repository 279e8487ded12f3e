"""How each call runs at the fake PSP: the fault a test armed for it, its
idempotency key (the same key with the same parameters answers the stored
answer, a decline included, as Stripe stores results of requests that started
executing; other parameters are an idempotency error; a key whose first
request is still running is a 409; a key is forgotten after
IDEMPOTENCY_WINDOW), the interleaving hooks around its effect, and its errors
translated by the gateway's one table (stripe_integration.client.errors) with
the same "outcome may be unknown" flag per call as the real client.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import stripe

from payments.tests.fake_psp.faults import fault_error
from stripe_integration.client.errors import stripe_error_translate

IDEMPOTENCY_WINDOW = timedelta(hours=24)

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


@dataclass
class KeyRecord:
    operation: str
    params: str
    created: datetime
    in_flight: bool = True
    outcome: tuple | None = None  # ("ok", result) or ("error", stripe exception)


class Calls:
    """A part of FakePsp (payments.tests.fake_psp.account), which holds the
    keys (`keys`) and the record of calls (`calls`)."""

    def _call(self, operation: str, key: str, params: dict, effect: Callable):
        unknown = _UNKNOWN_ON_FAILURE[operation]
        fault = self._take_fault(operation)
        if fault in ("rate_limited", "server_error", "unauthorized", "timeout_before", "refused"):
            self.calls.append((operation, fault))
            raise self._translate(fault_error(fault), unknown)
        if key:
            outcome = self._idempotent(operation, key, params, effect, unknown, fault)
        else:
            self._hook(operation, "before", key)
            outcome = self._run(effect)
            self._hook(operation, "after", key)
        if fault == "timeout_after":
            self.calls.append((operation, "timeout_after"))
            raise self._translate(fault_error(fault), unknown)
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
        record = KeyRecord(operation=operation, params=fingerprint, created=now)
        self.keys[key] = record
        try:
            self._hook(operation, "before", key)
            if fault == "server_error_stored":
                record.outcome = ("error", fault_error("server_error"))
            else:
                record.outcome = self._run(effect)
        except BaseException:
            del self.keys[key]  # nothing executed: nothing stored
            raise
        finally:
            record.in_flight = False
        self._hook(operation, "after", key)
        return record.outcome

    @staticmethod
    def _run(effect) -> tuple:
        try:
            return ("ok", effect())
        except stripe.StripeError as exc:
            return ("error", exc)

    @staticmethod
    def _translate(error: stripe.StripeError, unknown: bool):
        # As the real client: a card error on a charge is a definite answer.
        if isinstance(error, stripe.CardError):
            unknown = False
        return stripe_error_translate(error, outcome_may_be_unknown=unknown)
