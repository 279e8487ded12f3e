"""One fake PSP account (FakePsp): its state, its books (what the invariants
compare with the gateway's) and the webhook events it makes. What it does is
in the parts it is made of: intents.py, refunds.py, calls.py and faults.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from payments.providers import DisputeResult
from payments.tests.fake_psp.calls import Calls, KeyRecord
from payments.tests.fake_psp.clock import SimClock
from payments.tests.fake_psp.faults import FaultInjection
from payments.tests.fake_psp.intents import BEHAVIOUR_BY_METHOD, PaymentIntents
from payments.tests.fake_psp.objects import FakeIntent, FakeRefund, intent_as_dict
from payments.tests.fake_psp.refunds import RefundsAndDisputes


class FakePsp(PaymentIntents, RefundsAndDisputes, Calls, FaultInjection):
    """One PSP account. Implements payments.providers.PaymentProvider."""

    def __init__(self, clock: SimClock | None = None):
        self.clock = clock or SimClock()
        self.intents: dict[str, FakeIntent] = {}
        self.refunds_by_id: dict[str, FakeRefund] = {}
        self.disputes: dict[str, DisputeResult] = {}
        self.methods: dict[str, str] = dict(BEHAVIOUR_BY_METHOD)
        self.keys: dict[str, KeyRecord] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, what came of it)
        self.events: list[dict] = []  # webhook events, in the order the PSP made them
        self._faults: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        # A label the test sets ("request", "reconcile", …), kept on each intent created.
        self.context = "request"
        self.request_key = ""
        # (operation, phase, key) -> None; called "before" and "after" each effect.
        self.interleave: Callable[[str, str, str], None] | None = None

    # --- the account's books, for invariants -----------------------------------------

    def intents_of(self, payment_uuid: str) -> list[FakeIntent]:
        return [i for i in self.intents.values() if i.metadata.get("gateway_payment_uuid") == payment_uuid]

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

    def _event(self, type: str, intent: FakeIntent, *, charge: bool = False) -> None:
        body = intent_as_dict(intent)
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
