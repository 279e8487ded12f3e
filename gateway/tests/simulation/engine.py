"""A deterministic, seeded simulation of the gateway's money paths.

A run is a list of Steps drawn from a seed: merchants' requests through the
real API handlers (process, retries with and without the same key, refunds,
capture, cancel, 3-D Secure confirm, OTP validate), the PSP's webhooks (late,
duplicated, out of order), the background jobs (the async charge task, its
redelivery, reconciliation of payments and refunds, OTP expiry), the
operators' review decisions, API-key rotation and jumps of the clock past
leases and windows. A step may carry a fault for its PSP calls and an
interleaving: at a step boundary inside one of its PSP calls (before the
effect, with the key in flight; or after it, before the answer is back) the
request crashes (its transaction rolls back, its lease stays, its after-commit
work is lost) or another step runs in between.

Everything random is drawn when the steps are made, none while they run: the
same steps give the same run, so a failure is replayed from its printed steps,
and shrunk by taking steps away while it still fails.

After every step the invariants are checked against the database, the answers
the merchant got and the fake PSP's books; after the last one, faults stop and
the background jobs run until nothing changes, and every payment must be at
rest or parked for an operator with a reason.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from payments.enums import ALLOWED_TRANSITIONS, PaymentStatus, RefundStatus
from payments.kafka_events import event_type_for
from payments.models import IdempotencyKey, Payment, PaymentEvent, Refund
from payments.tests import fake_psp as fake_psp_module
from payments.tests.fake_psp import FakePsp, SimClock

LEASE_SECONDS = 90
RECONCILE_AGE_SECONDS = 600  # RECONCILE_AFTER_MINUTES, as the simulation sets it
FINAL = {PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.REFUNDED}
AT_REST = {
    PaymentStatus.SUCCEEDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.FAILED,
    PaymentStatus.CANCELED,
    PaymentStatus.REQUIRES_ACTION,  # waits for the payer, as at Stripe
    PaymentStatus.REQUIRES_CAPTURE,  # waits for the merchant
}
# Contexts in which the gateway may create a charge at the PSP: a merchant's
# request or its retry, and the work it was promised (the async task).
CHARGING_CONTEXTS = {"request", "task"}

# "client": created with `confirm: false` and `expires_in`; the payer pays on the
# hosted page (page_pay) or with Stripe.js directly at the PSP (browser_pay).
KINDS = ("card_ok", "card_3ds", "card_decline", "pm_ok", "pm_decline", "manual", "otp", "async", "client")
CLIENT_EXPIRES_IN = 60
AMOUNTS = (1999, 5000, 120, 100000)
FAULTS = (
    "rate_limited",
    "server_error",
    "unauthorized",
    "timeout_before",
    "timeout_after",
    "server_error_stored",
)
NESTED = (
    "crash",
    "crash",
    "retry_after_lease",
    "retry_after_lease",
    "duplicate_now",
    "webhooks",
    "reconcile",
    "refund_same_payment",
)
# The PSP calls each step makes (where its faults and interleavings can land).
_CALLS_OF = {
    "pay": ("tokenize_card", "charge"),
    "retry": ("charge", "retrieve_charge", "find_charges"),
    "refund": ("refund",),
    "refund_retry": ("refund", "list_refunds"),
    "capture": ("capture",),
    "cancel": ("cancel",),
    "confirm": ("retrieve_charge",),
    "otp_validate": ("charge",),
    "otp_retry": ("charge", "retrieve_charge"),
    "tasks": ("charge", "find_charges"),
    "reconcile": ("charge", "retrieve_charge", "find_charges", "refund", "list_refunds", "retrieve_refund"),
    "webhook": ("retrieve_charge", "retrieve_refund", "list_refunds"),
    "page_pay": ("confirm", "retrieve_charge"),
    "expire": ("cancel", "retrieve_charge"),
}
CARDS = {"card_ok": "4242424242424242", "card_3ds": "4000002500003155", "card_decline": "4000000000000341"}


class Crash(BaseException):  # noqa: N818  a dead process: nothing catches it
    """The process serving a request dies at a step boundary (SIGKILL)."""


class InvariantViolated(AssertionError):
    def __init__(self, name: str, detail: str):
        super().__init__(f"{name}: {detail}")
        self.name = name


@dataclass(frozen=True)
class Step:
    op: str
    order: int = 0
    arg: str = ""
    fault: tuple = ()  # (psp operation, fault kind)
    at: tuple = ()  # (psp operation, phase, what): "crash" or a NESTED name

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={getattr(self, name)!r}" for name in ("fault", "at") if getattr(self, name)
        )
        return f"Step({self.op!r}, {self.order}, {self.arg!r}{extra})"


def steps_generate(rng: random.Random, count: int) -> list[Step]:
    """A run's steps. Orders are made by `pay` steps; other steps name an order
    by its index, and are no-ops when it does not exist or does not fit."""
    weights = {
        "pay": 6,
        "retry": 4,
        "refund": 3,
        "refund_retry": 1,
        "capture": 2,
        "cancel": 1,
        "authenticate": 2,
        "confirm": 2,
        "otp_validate": 3,
        "otp_retry": 1,
        "webhook": 3,
        "tasks": 2,
        "reconcile": 2,
        "review": 1,
        "expire_otp": 1,
        "page_pay": 3,
        "browser_pay": 1,
        "expire": 2,
        "rotate_key": 1,
        "clock": 3,
    }
    ops, op_weights = zip(*weights.items(), strict=True)
    steps, orders = [], 0
    for _ in range(count):
        op = rng.choices(ops, op_weights)[0] if orders else "pay"
        order = rng.randrange(orders) if orders else 0
        arg = ""
        if op == "pay":
            order, orders = orders, orders + 1
            arg = f"{rng.choice(KINDS)}:{rng.choice(AMOUNTS)}:{rng.choice(('key', 'key', 'nokey'))}"
        elif op == "refund":
            arg = rng.choice(("partial", "partial", "full", "over"))
        elif op == "capture":
            arg = rng.choice(("full", "partial"))
        elif op == "authenticate":
            arg = rng.choice(("ok", "ok", "fail", "retry"))
        elif op == "otp_validate":
            arg = rng.choice(("right", "right", "wrong"))
        elif op == "page_pay":
            arg = rng.choice(("ok", "ok", "decline", "3ds"))
        elif op == "browser_pay":
            arg = rng.choice(("ok", "decline"))
        elif op == "webhook":
            arg = rng.choice(("next", "random", "all", "again"))
        elif op == "tasks":
            arg = rng.choice(("once", "twice"))
        elif op == "clock":
            arg = str(rng.choice((5, 60, LEASE_SECONDS + 1, 200, RECONCILE_AGE_SECONDS + 1, 1900, 25 * 3600)))
        fault, at = (), ()
        calls = _CALLS_OF.get(op)
        if calls:
            if rng.random() < 0.35:
                operation = rng.choice(calls + ("*",))
                kinds = FAULTS + (("refused",) if operation == "refund" else ())
                fault = (operation, rng.choice(kinds))
            if rng.random() < 0.5:
                at = (rng.choice(calls), rng.choice(("before", "after")), rng.choice(NESTED))
        steps.append(Step(op, order, arg, fault, at))
    return steps


class RecordingOtpSender:
    """The payer's mailbox: the last code sent for each order."""

    channel = "sim"
    codes: dict[str, str] = {}  # noqa: RUF012  one mailbox for the process
    last_sent: dict[str, str] = {}  # noqa: RUF012  the code each validation key sent

    def send(self, message) -> None:
        RecordingOtpSender.codes[message.order_id] = message.code


@dataclass
class Order:
    index: int
    kind: str
    amount_minor: int
    keyed: bool
    id: str = ""
    body: dict = field(default_factory=dict)
    key: str = ""
    attempts: int = 0
    answered: bool = False  # a definite answer (not a 5xx, not a crash) came back
    payment_id: str = ""
    refund_body: dict | None = None
    refund_key: str = ""
    refunds: int = 0
    validations: int = 0
    started_at: object = None


@dataclass
class Answer:
    status: int
    body: dict
    replayed: bool = False
    at: object = None

    @property
    def definite(self) -> bool:
        in_use = self.status == 409 and self.body.get("error", {}).get("code") == "idempotency_key_in_use"
        return self.status < 500 and not in_use


class Simulation:
    """One run of steps on a clean database (the caller rolls it back)."""

    def __init__(self, clock: SimClock, merchant_name: str = "sim-merchant"):
        from payments.services.api_clients import api_client_create

        self.clock = clock
        self.psp = FakePsp(clock)
        fake_psp_module.install(self.psp)
        self.psp.interleave = self._boundary
        self.client, raw_key = api_client_create(name=merchant_name)
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        self.orders: list[Order] = []
        self.tasks: list[int] = []
        self.delivered: list[int] = []
        self.next_event = 0
        self.answers: dict[str, Answer] = {}  # Idempotency-Key -> its first definite answer
        self.stored: dict[int, tuple] = {}  # IdempotencyKey pk -> (status, body) once completed
        self.statuses: dict[int, str] = {}
        self.key_first_used: dict = {}
        self.promised: set[str] = set()  # payment uuids whose client was told `processing`
        self.stats: Counter = Counter()
        self._armed: tuple = ()
        self._depth = len(connection.savepoint_ids)
        self._step_index = -1
        RecordingOtpSender.codes.clear()
        RecordingOtpSender.last_sent.clear()

    # --- running ----------------------------------------------------------------------

    def run(self, steps: list[Step], *, quiesce: bool = True) -> Counter:
        for index, step in enumerate(steps):
            self._step_index = index
            self.step(step)
            self.check()
        if quiesce:
            self.quiesce()
        return self.stats

    def step(self, step: Step, *, nested: bool = False) -> None:
        self.stats["operations"] += 1
        self.stats[f"op:{step.op}"] += 1
        if step.fault:
            self.psp.fault(*step.fault)
            self.stats["faults armed"] += 1
        self._armed = step.at if not nested else ()
        self.psp.context = self._context_of(step.op)
        try:
            with self._after_commit():
                getattr(self, f"_op_{step.op}")(step)
        except Crash:
            self.stats["crashes"] += 1
        finally:
            if not nested:
                self._armed = ()
                self.psp.clear_faults()

    @staticmethod
    def _context_of(op: str) -> str:
        if op in (
            "pay",
            "retry",
            "refund",
            "refund_retry",
            "capture",
            "cancel",
            "confirm",
            "otp_validate",
            "otp_retry",
            "page_pay",
        ):
            return "request"
        return {"tasks": "task"}.get(op, op)

    @contextmanager
    def _after_commit(self):
        """Runs the after-commit work of a step once it ends (the test's own
        transaction never commits); a step whose process died loses it."""
        start = len(connection.run_on_commit)
        try:
            yield
        except Crash:
            del connection.run_on_commit[start:]
            raise
        while len(connection.run_on_commit) > start:
            batch = connection.run_on_commit[start:]
            del connection.run_on_commit[start:]
            for _, callback, robust in batch:
                if robust:
                    try:
                        callback()
                    except Exception:  # noqa: BLE001,S110  robust callbacks are logged and dropped in production
                        pass
                else:
                    callback()

    def _boundary(self, operation: str, phase: str, key: str) -> None:
        """Called by the fake PSP inside each call: the step boundaries."""
        self.stats["psp calls"] += phase == "before"
        if len(connection.savepoint_ids) > self._depth:
            raise InvariantViolated(
                "psp_call_in_transaction", f"{operation} was called while a database transaction was open"
            )
        if not self._armed or self._armed[:2] != (operation, phase):
            return
        what = self._armed[2]
        self._armed = ()
        self.stats["interleavings"] += 1
        if what == "crash":
            raise Crash()
        order = self.orders[-1] if self.orders else None
        # The step in between is not the interrupted request: a charge it makes
        # is not that request's (a retry sets its own key in _post).
        context, request_key = self.psp.context, self.psp.request_key
        self.psp.request_key = ""
        try:
            if what == "retry_after_lease" and order is not None:
                self.clock.advance(LEASE_SECONDS + 1)
                self.step(Step("retry", order.index), nested=True)
            elif what == "duplicate_now" and order is not None:
                self.step(Step("retry", order.index), nested=True)
            elif what == "webhooks":
                self.step(Step("webhook", 0, "all"), nested=True)
            elif what == "reconcile":
                self.clock.advance(RECONCILE_AGE_SECONDS + 1)
                self.step(Step("reconcile"), nested=True)
            elif what == "refund_same_payment" and order is not None:
                self.step(Step("refund", order.index, "full"), nested=True)
        finally:
            self.psp.context, self.psp.request_key = context, request_key

    # --- the merchant -----------------------------------------------------------------

    def _post(self, path: str, body: dict, key: str = "", *, promised: bool = False) -> Answer:
        """A merchant's request. `promised`: the charge is owed once the payment
        exists (async), whether or not the answer comes back."""
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        if key:
            self.key_first_used.setdefault(key, self.clock.now())
        outer_key, self.psp.request_key = self.psp.request_key, key
        try:
            response = self.api.post(path, body, format="json", **headers)
        finally:
            self.psp.request_key = outer_key
        answer = Answer(
            response.status_code, response.json(), response.headers.get("Idempotent-Replayed") == "true"
        )
        self.stats[f"answer:{answer.status}"] += 1
        if (
            answer.body.get("status") == PaymentStatus.PROCESSING
            and answer.body.get("payment_id")
            and (key or promised)
        ):
            # Told "processing" under a key (its retry resumes it), or queued: the
            # gateway owes this payment its charge.
            payment = Payment.objects.get(client=self.client, public_id=answer.body["payment_id"])
            self.promised.add(str(payment.uuid))
        self._check_answer(answer, key)
        return answer

    def _order(self, step: Step) -> Order | None:
        return self.orders[step.order] if step.order < len(self.orders) else None

    def _op_pay(self, step: Step) -> None:
        kind, amount, keyed = step.arg.split(":")
        order = Order(index=len(self.orders), kind=kind, amount_minor=int(amount), keyed=keyed == "key")
        order.id = f"order-{order.index}"
        order.started_at = self.clock.now()
        self.orders.append(order)
        body = {"order_id": order.id, "amount": f"{order.amount_minor / 100:.2f}", "currency": "usd"}
        if kind in CARDS:
            body["card"] = {"number": CARDS[kind], "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        else:
            body["payment_method"] = "pm_card_chargeDeclined" if kind == "pm_decline" else "pm_card_visa"
        if kind == "manual":
            body["capture_method"] = "manual"
        if kind == "otp":
            body.update(require_otp=True, email="payer@example.com")
        if kind == "async":
            body["async"] = True
        if kind == "client":
            del body["payment_method"]
            body.update(confirm=False, expires_in=CLIENT_EXPIRES_IN)
        order.body = body
        self._attempt(order, new_key=True)

    def _op_retry(self, step: Step) -> None:
        order = self._order(step)
        if order is None:
            return
        if order.keyed:
            # Keys live IDEMPOTENCY_KEY_TTL_HOURS (Stripe's 24 h): a merchant does not
            # retry with one older than that; it would be a new request.
            ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600
            if (self.clock.now() - order.started_at).total_seconds() < ttl - LEASE_SECONDS:
                self._attempt(order, new_key=False)  # the same request, the same key
        elif not order.answered:
            self._attempt(order, new_key=False)  # no answer came: a second payment, as merchants do

    def _attempt(self, order: Order, *, new_key: bool) -> None:
        order.attempts += 1
        if order.keyed and new_key:
            order.key = f"{order.id}-pay"
        answer = Answer(0, {})
        try:
            answer = self._post(
                "/api/v1/payments/process",
                order.body,
                order.key if order.keyed else "",
                promised=order.kind == "async",
            )
        finally:
            if answer.status and answer.definite:
                order.answered = True
        payment_id = answer.body.get("payment_id") or answer.body.get("error", {}).get("payment_id")
        if payment_id:
            order.payment_id = payment_id

    def _payment_path(self, order: Order | None, action: str) -> str | None:
        if order is None or not order.payment_id:
            return None
        return f"/api/v1/payments/{order.payment_id}/{action}"

    def _op_refund(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "refund")
        if path is None:
            return
        payment = Payment.objects.get(client=self.client, public_id=order.payment_id)
        left = max(payment.captured_minor - payment.refunded_minor, 0)
        body = {"reason": "requested_by_customer"}
        if step.arg == "partial":
            body["amount"] = f"{max(left // 3, 1) / 100:.2f}"
        elif step.arg == "over":
            body["amount"] = f"{(left + 1) / 100:.2f}"
        order.refunds += 1
        order.refund_body = body
        order.refund_key = f"{order.id}-refund-{order.refunds}" if order.keyed else ""
        self._post(path, body, order.refund_key)

    def _op_refund_retry(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "refund")
        if (
            path is None
            or order.refund_body is None
            or not order.refund_key
            or not self._key_alive(order.refund_key)
        ):
            return
        self._post(path, order.refund_body, order.refund_key)

    def _op_capture(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "capture")
        if path is None or order.kind != "manual":
            return
        body = {} if step.arg == "full" else {"amount": f"{max(order.amount_minor // 2, 1) / 100:.2f}"}
        self._post(path, body, f"{order.id}-capture-{step.arg}" if order.keyed else "")

    def _op_cancel(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "cancel")
        if path is not None:
            self._post(path, {}, f"{order.id}-cancel" if order.keyed else "")

    def _op_confirm(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "confirm")
        if path is not None and order.kind == "card_3ds":
            self._post(path, {}, f"{order.id}-confirm-{order.attempts}" if order.keyed else "")

    def _op_authenticate(self, step: Step) -> None:
        order = self._order(step)
        if order is None or order.kind != "card_3ds":
            return
        for payment in Payment.objects.filter(client=self.client, order_id=order.id).exclude(
            stripe_payment_intent_id=""
        ):
            self.psp.authenticate(payment.stripe_payment_intent_id, success=step.arg != "fail")

    def _op_otp_validate(self, step: Step) -> None:
        order = self._order(step)
        if order is None or order.kind != "otp" or not order.payment_id:
            return
        code = RecordingOtpSender.codes.get(order.id, "000000")
        if step.arg == "wrong":
            code = f"{(int(code) + 1) % 10**6:06d}"
        order.validations += 1
        key = f"{order.id}-validate-{order.validations}" if order.keyed else ""
        RecordingOtpSender.last_sent[key] = code
        self._post("/api/v1/payments/validate", {"payment_id": order.payment_id, "otp": code}, key)

    def _op_otp_retry(self, step: Step) -> None:
        """The same validation again, with the same key (after a 5xx or no answer)."""
        order = self._order(step)
        if order is None or order.kind != "otp" or not order.validations or not order.keyed:
            return
        key = f"{order.id}-validate-{order.validations}"
        code = RecordingOtpSender.last_sent.get(key)
        if code is not None and self._key_alive(key):
            self._post("/api/v1/payments/validate", {"payment_id": order.payment_id, "otp": code}, key)

    def _key_alive(self, key: str) -> bool:
        """Whether a merchant would still retry with this key: keys live
        IDEMPOTENCY_KEY_TTL_HOURS (Stripe's 24 h); past that a retry is a new request."""
        ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600 - LEASE_SECONDS
        first = self.key_first_used.get(key)
        return first is None or (self.clock.now() - first).total_seconds() < ttl

    def _op_rotate_key(self, step: Step) -> None:
        from payments.services.api_clients import api_client_rotate

        _, raw_key = api_client_rotate(name=self.client.name)
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def _op_clock(self, step: Step) -> None:
        self.clock.advance(int(step.arg))

    # --- the PSP and the background ---------------------------------------------------

    def _op_webhook(self, step: Step) -> None:
        events = self.psp.events
        if not events:
            return
        if step.arg == "drop":  # lost: the PSP gave up delivering them (a misconfigured endpoint)
            self.next_event = len(events)
            return
        if step.arg == "all":
            picks = range(self.next_event, len(events))
        elif step.arg == "next":
            picks = [self.next_event] if self.next_event < len(events) else []
        elif step.arg == "again" and self.delivered:
            picks = [self.delivered[(len(self.delivered) * 7919) % len(self.delivered)]]
        else:
            picks = [(self.next_event * 31 + len(events)) % len(events)]  # out of order
        for index in list(picks):
            self._deliver(events[index])
            self.delivered.append(index)
            self.next_event = max(self.next_event, index + 1)

    def _deliver(self, event: dict) -> None:
        from conftest import stripe_signature
        from stripe_integration.webhooks import webhook_receive

        payload = json.dumps(event)
        signature = stripe_signature(payload, settings.STRIPE_WEBHOOK_SECRET, int(time.time()))
        self.stats["webhooks delivered"] += 1
        webhook_receive(payload=payload.encode(), signature=signature, remote_ip="127.0.0.1")

    def _op_tasks(self, step: Step) -> None:
        from payments.tasks import payment_charge_task

        queued, self.tasks = self.tasks, []
        for pk in queued:
            for _ in range(2 if step.arg == "twice" else 1):  # acks_late: delivered again
                self.stats["tasks run"] += 1
                payment_charge_task(pk)

    def _op_reconcile(self, step: Step) -> None:
        """The beat's reconciliation of payments and refunds, as it runs it."""
        from payments.services.reconcile import reconcile_stuck

        result = reconcile_stuck()
        self.stats["reconcile errors"] += result["failed"] + result["refunds_failed"]

    def _client_payment(self, order: Order | None) -> Payment | None:
        if order is None or order.kind != "client" or not order.payment_id:
            return None
        return Payment.objects.get(client=self.client, public_id=order.payment_id)

    def _op_page_pay(self, step: Step) -> None:
        """The payer submits a card on the hosted page (its token, as Stripe.js gives it)."""
        from django.test import Client

        from payments.services.checkout import payment_link_token

        payment = self._client_payment(self._order(step))
        if payment is None:
            return
        token = {"ok": "tok_visa", "decline": "tok_chargeDeclined", "3ds": "tok_threeDSecure2Required"}[
            step.arg
        ]
        path = f"/pay/{payment_link_token(payment)}/confirm"
        response = Client().post(path, {"token": token}, content_type="application/json")
        self.stats[f"page:{response.status_code}"] += 1
        if response.status_code >= 500 and response.status_code not in (502, 503):
            raise InvariantViolated("unexpected_5xx", f"{path}: {response.status_code}")
        body = response.json() if response.status_code < 500 else {}
        if body.get("status") == PaymentStatus.SUCCEEDED:
            taken = self.psp.money_taken(str(payment.uuid))
            if taken != payment.amount_minor:
                raise InvariantViolated(
                    "page_paid_without_money", f"{payment.public_id}: page says succeeded, PSP took {taken}"
                )

    def _op_browser_pay(self, step: Step) -> None:
        """The payer confirms with the merchant's own Stripe.js, straight at the PSP."""
        payment = self._client_payment(self._order(step))
        if payment is None or not payment.stripe_payment_intent_id:
            return
        intent = self.psp.intents[payment.stripe_payment_intent_id]
        if intent.status in ("requires_payment_method", "requires_confirmation"):
            self.psp.payer_confirm(
                intent.id, "pm_card_visa" if step.arg == "ok" else "pm_card_chargeDeclined"
            )

    def _op_expire(self, step: Step) -> None:
        """The beat's expiry sweep."""
        from payments.services.expiry import payments_expire_due

        self.stats["expired"] += payments_expire_due()

    def _op_expire_otp(self, step: Step) -> None:
        from otp.services import otp_expire_payments

        otp_expire_payments()

    def _op_review(self, step: Step) -> None:
        """The operator: looks at the PSP's dashboard (the fake's books) and decides."""
        from gateway.core.errors import GatewayError
        from payments.services.reconcile import payment_review_resolve

        for payment in Payment.objects.exclude(review_reason=""):
            intents = self.psp.intents_of(str(payment.uuid))
            held = [
                i
                for i in intents
                if i.amount_received or i.amount_capturable or i.status == "requires_action"
            ]
            own = payment.stripe_payment_intent_id
            decision = {"payment_intent_id": ""}
            if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED) and held:
                decision["return_charge"] = True
            elif own and any(i.id != own for i in held):
                decision["return_charge"] = True  # a second charge of one payment
            elif len(intents) == 1:
                decision["payment_intent_id"] = intents[0].id
            elif not intents:
                decision["not_charged"] = True
            else:
                continue  # several: not a decision this operator makes
            try:
                payment_review_resolve(payment=payment, actor="operator:sim", **decision)
                self.stats["reviews resolved"] += 1
            except GatewayError:
                self.stats["reviews refused"] += 1

    def queue_task(self, payment_pk: int) -> None:
        self.tasks.append(payment_pk)

    # --- the end: faults stop, jobs run until nothing changes ---------------------------

    def quiesce(self) -> None:
        self._step_index = "quiescence"
        self.psp.clear_faults()
        self._armed = ()
        # Ten-minute rounds as the beat runs them, then hours, then past the PSP's
        # key window: a 5xx the PSP stored under a key holds that operation
        # until the PSP forgets the key (24 h), then it is sent again.
        for jump in (601, 7200, 25 * 3600, 601):
            self.clock.advance(jump)
            for op, arg in (
                ("tasks", "once"),
                ("webhook", "all"),
                ("reconcile", ""),
                ("expire_otp", ""),
                ("expire", ""),
                ("review", ""),
            ):
                self.step(Step(op, 0, arg))
        self.check()
        for payment in Payment.objects.all():
            if payment.status not in AT_REST and not payment.review_reason:
                raise InvariantViolated(
                    "stuck", f"{payment.public_id} is {payment.status} with no reason after quiescence"
                )
            pending = payment.refunds.filter(status=RefundStatus.PENDING)
            if pending.exists() and not payment.review_reason:
                raise InvariantViolated("stuck", f"{payment.public_id} has a refund pending after quiescence")
            if not payment.review_reason:
                self._check_books(payment, strict=True)
        for intent in self.psp.intents.values():
            answer = self.answers.get(intent.request_key)
            kept = intent.amount_received - self.psp.refunded(intent) + intent.amount_capturable
            if kept > 0 and answer is not None and answer.status >= 400:
                raise InvariantViolated(
                    "refused_but_charged",
                    f"{intent.id} holds {kept} for a request answered {answer.status} "
                    f"{answer.body.get('error')}",
                )

    def _fingerprint(self):
        return (
            list(
                Payment.objects.order_by("id").values_list(
                    "status", "review_reason", "captured_minor", "refunded_minor"
                )
            ),
            list(Refund.objects.order_by("id").values_list("status")),
            len(self.psp.events),
        )

    # --- invariants -------------------------------------------------------------------

    def _check_answer(self, answer: Answer, key: str) -> None:
        self.stats["invariants checked"] += 1
        body = answer.body
        named = [body.get("payment_id"), (body.get("payment") or {}).get("payment_id")]
        named.append((body.get("error") or {}).get("payment_id"))
        for payment_id in filter(None, named):
            if not Payment.objects.filter(client=self.client, public_id=payment_id).exists():
                raise InvariantViolated("answer_names_no_payment", f"{answer.status} names {payment_id}")
        if answer.status >= 500 and answer.status not in (502, 503):
            raise InvariantViolated("unexpected_5xx", f"{answer.status} {body}")
        error = body.get("error") or {}
        if answer.status == 402 and error.get("code") != "not_charged":
            payment = Payment.objects.get(client=self.client, public_id=error.get("payment_id"))
            if not any(i.declines for i in self.psp.intents_of(str(payment.uuid))):
                raise InvariantViolated(
                    "decline_without_psp_decline", f"{payment.public_id} answered 402 {error.get('code')}"
                )
        if key and error.get("code") == "duplicate_payment_id":
            # "Already exists" about the payment this very key made (its retry
            # recorded it while this request's lease ran out): the merchant is
            # told its own payment is someone else's.
            record = IdempotencyKey.objects.filter(client=self.client, key=key).first()
            if record is not None and Payment.objects.filter(uuid=record.operation_uuid).exists():
                raise InvariantViolated("duplicate_of_own_payment", f"key {key}: 409 for its own payment")
        if not key or not answer.definite:
            return
        comparable = {k: v for k, v in body.items() if k != "client_secret"}
        ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600
        first = self.answers.get(key)
        if first is None or (self.clock.now() - first.at).total_seconds() >= ttl:
            # A key's answer is kept IDEMPOTENCY_KEY_TTL_HOURS; past that it is a new request.
            first = self.answers[key] = Answer(answer.status, comparable, at=self.clock.now())
        if (first.status, first.body) != (answer.status, comparable):
            raise InvariantViolated(
                "replay_differs",
                f"key {key}: first {first.status} {first.body}, now {answer.status} {comparable}",
            )

    def check(self) -> None:
        """The invariants over the whole state, after a step."""
        self.stats["invariant checks"] += 1
        for record in IdempotencyKey.objects.filter(state=IdempotencyKey.State.COMPLETED):
            stored = (record.response_status, json.dumps(record.response_body, sort_keys=True))
            if self.stored.setdefault(record.pk, stored) != stored:
                raise InvariantViolated("stored_answer_changed", f"key {record.key}")
        for intent in self.psp.intents.values():
            context = getattr(intent, "context", "request")
            uuid = intent.metadata.get("gateway_payment_uuid")
            if intent.created_unconfirmed:
                continue  # no charge: the payer confirms it, or nobody does
            if context not in CHARGING_CONTEXTS and not (context == "reconcile" and uuid in self.promised):
                raise InvariantViolated(
                    "charge_not_asked_for",
                    f"{intent.id} was created by {context} for a payment nobody asked to charge",
                )
        money_by_order: Counter = Counter()
        for payment in Payment.objects.select_related("client"):
            money_by_order[payment.order_id] += self.psp.money_taken(str(payment.uuid))
            self._check_payment(payment)
        for order in self.orders:
            if order.keyed and money_by_order[order.id] > order.amount_minor:
                raise InvariantViolated(
                    "charged_twice",
                    f"{order.id} ({order.amount_minor}): the PSP took {money_by_order[order.id]}",
                )

    def _check_payment(self, payment: Payment) -> None:
        uuid = str(payment.uuid)
        with_money = [i for i in self.psp.intents_of(uuid) if i.amount_received or i.amount_capturable]
        if len(with_money) > 1:
            raise InvariantViolated("two_psp_charges", f"{payment.public_id}: {[i.id for i in with_money]}")
        if not 0 <= payment.refunded_minor <= payment.captured_minor <= payment.amount_minor:
            raise InvariantViolated(
                "amounts",
                f"{payment.public_id}: refunded {payment.refunded_minor}, captured {payment.captured_minor}, "
                f"amount {payment.amount_minor}",
            )
        refunds = list(payment.refunds.all())
        reserved = sum(r.amount_minor for r in refunds if r.status != RefundStatus.FAILED)
        if reserved != payment.refunded_minor or len(refunds) != payment.refund_count:
            raise InvariantViolated(
                "refund_totals",
                f"{payment.public_id}: refunds {reserved}/{len(refunds)}, row {payment.refunded_minor}",
            )
        outcomes: Counter = Counter()
        for type_, data in payment.events.filter(
            type__in=("refund_created", "refund_succeeded", "refund_failed")
        ).values_list("type", "data"):
            outcomes[(data.get("refund_id"), "created" if type_ == "refund_created" else "settled")] += 1
        if any(count > 1 for count in outcomes.values()):
            raise InvariantViolated("refund_event_twice", f"{payment.public_id}: {dict(outcomes)}")
        if payment.cancellation_reason == "expired" and any(
            i.status in ("succeeded", "requires_capture", "processing") for i in self.psp.intents_of(uuid)
        ):
            raise InvariantViolated(
                "expired_but_paid", f"{payment.public_id}: canceled as expired, but the payer paid at the PSP"
            )
        before = self.statuses.get(payment.pk)
        if before in FINAL and payment.status != before:
            raise InvariantViolated(
                "final_status_changed", f"{payment.public_id}: {before} -> {payment.status}"
            )
        self.statuses[payment.pk] = payment.status
        self._check_timeline(payment)
        # The books are compared at rest (quiesce): between steps the PSP may have
        # moved on its own (the payer retried 3-D Secure) before its webhook came.

    def _check_books(self, payment: Payment, *, strict: bool) -> None:
        """The money the PSP moved for the payment is the money we record."""
        intents = self.psp.intents_of(str(payment.uuid))
        psp_net = sum(i.amount_received - self.psp.refunded(i) for i in intents)
        ours = payment.captured_minor - sum(
            r.amount_minor for r in payment.refunds.all() if r.status == RefundStatus.SUCCEEDED
        )
        returned = sum(
            item.get("amount_minor", 0)
            for event in payment.events.filter(type="review_resolved")
            for item in event.data.get("returned", [])
        )
        if psp_net != ours:
            raise InvariantViolated(
                "books_differ",
                f"{payment.public_id} ({payment.status}): the PSP moved {psp_net}, we record {ours}"
                + (f" (returned {returned})" if returned else ""),
            )
        if strict:
            held = sum(i.amount_capturable for i in intents)
            if held and payment.status != PaymentStatus.REQUIRES_CAPTURE:
                raise InvariantViolated(
                    "money_held", f"{payment.public_id} ({payment.status}): {held} authorized"
                )

    def _check_timeline(self, payment: Payment) -> None:
        """One published event per change, in order; every change allowed; the
        last published status is the payment's."""
        from gateway.events.models import OutboxEvent

        status = None
        expected = []
        for event in PaymentEvent.objects.filter(payment=payment).order_by("id"):
            if status is not None and event.status_before and event.status_before != status:
                raise InvariantViolated(
                    "timeline_chain",
                    f"{payment.public_id}: {event.type} says before={event.status_before}, was {status}",
                )
            after = event.status_after
            if (
                status is not None
                and after
                and after != status
                and after not in ALLOWED_TRANSITIONS.get(status, ())
            ):
                raise InvariantViolated(
                    "transition", f"{payment.public_id}: {status} -> {after} ({event.type})"
                )
            status = after or status
            published = event_type_for(event.type, event.status_after)
            if published:
                expected.append((published, event.status_after))
        if status != payment.status:
            raise InvariantViolated(
                "timeline_status", f"{payment.public_id}: timeline ends {status}, row {payment.status}"
            )
        outbox = [
            (row.type, row.payload["payment"]["status"])
            for row in OutboxEvent.objects.filter(aggregate_id=payment.public_id).order_by("id")
            if row.payload["payment"]["client_id"] == payment.client_id
        ]
        if outbox != expected:
            raise InvariantViolated("outbox", f"{payment.public_id}: outbox {outbox}, timeline {expected}")


EXHAUSTIVE_FAULTS = (
    (),
    *((kind,) for kind in ("timeout_before", "timeout_after", "server_error_stored", "unauthorized")),
)
EXHAUSTIVE_NESTED = ("crash", "retry_after_lease", "duplicate_now", "webhooks", "reconcile")
DAY_AND_MORE = str(25 * 3600)
PAST_THE_LEASE = str(LEASE_SECONDS + 1)  # a crashed request's key can be taken over


def _variants(operation: str, boundaries: tuple, nested: tuple = EXHAUSTIVE_NESTED, faults=EXHAUSTIVE_FAULTS):
    """Every fault of `operation` (and none) times every interleaving at each boundary (and none)."""
    ats = [(), *((op, phase, what) for op, phase in boundaries for what in nested)]
    for fault in faults:
        for at in ats:
            yield ((operation, fault[0]) if fault else ()), at


def steps_exhaustive() -> list[tuple[str, list[Step]]]:
    """Small programs, one per fault and interleaving of one operation: every
    combination, not a sample, so that the rare compound cases (a fault and an
    interleaving in one request, then the clock past a window) are always run."""
    programs = []
    for fault, at in _variants(
        "charge", (("tokenize_card", "after"), ("charge", "before"), ("charge", "after"))
    ):
        programs.append(
            (
                "keyed card payment",
                [
                    Step("pay", 0, "card_ok:1999:key", fault, at),
                    Step("clock", 0, PAST_THE_LEASE),
                    Step("retry", 0),
                    Step("clock", 0, DAY_AND_MORE),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    for fault, at in _variants("charge", (("charge", "before"), ("charge", "after"))):
        programs.append(
            (
                "keyless payment",
                [
                    Step("pay", 0, "pm_ok:5000:nokey", fault, at),
                    Step("retry", 0),
                    Step("webhook", 0, "drop"),
                    Step("clock", 0, DAY_AND_MORE),
                ],
            )
        )
    for fault, _ in _variants("charge", ()):
        programs.append(
            (
                "async payment",
                [
                    Step("pay", 0, "async:1999:key"),
                    Step("tasks", 0, "once", fault),
                    Step("webhook", 0, "drop"),
                    Step("clock", 0, DAY_AND_MORE),
                    Step("tasks", 0, "twice"),
                ],
            )
        )
    nested = (*EXHAUSTIVE_NESTED, "refund_same_payment")
    refund_faults = (*EXHAUSTIVE_FAULTS, ("refused",))
    for fault, at in _variants("refund", (("refund", "before"), ("refund", "after")), nested, refund_faults):
        programs.append(
            (
                "refund",
                [
                    Step("pay", 0, "pm_ok:5000:key"),
                    Step("refund", 0, "partial", fault, at),
                    Step("clock", 0, PAST_THE_LEASE),
                    Step("refund_retry", 0),
                    Step("refund", 0, "full"),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    for fault, at in _variants(
        "retrieve_charge", (("retrieve_charge", "before"), ("retrieve_charge", "after"))
    ):
        programs.append(
            (
                "3-D Secure",
                [
                    Step("pay", 0, "card_3ds:5000:key"),
                    Step("authenticate", 0, "fail"),
                    Step("confirm", 0, "", fault, at),
                    Step("authenticate", 0, "retry"),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    for fault, at in _variants("capture", (("capture", "before"), ("capture", "after"))):
        programs.append(
            (
                "capture",
                [
                    Step("pay", 0, "manual:5000:key"),
                    Step("capture", 0, "partial", fault, at),
                    Step("clock", 0, PAST_THE_LEASE),
                    Step("capture", 0, "partial"),
                    Step("capture", 0, "full"),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    for fault, at in _variants("charge", (("charge", "before"), ("charge", "after"))):
        programs.append(
            (
                "OTP validation",
                [
                    Step("pay", 0, "otp:5000:key"),
                    Step("otp_validate", 0, "right", fault, at),
                    Step("clock", 0, PAST_THE_LEASE),
                    Step("otp_retry", 0),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    for fault, at in _variants("cancel", (("cancel", "before"), ("cancel", "after"))):
        programs.append(
            (
                "client payment paid in the browser as it expires",
                [
                    Step("pay", 0, "client:5000:key"),
                    Step("browser_pay", 0, "ok"),
                    Step("clock", 0, str(CLIENT_EXPIRES_IN + 1)),
                    Step("expire", 0, "", fault, at),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    for fault, at in _variants("confirm", (("confirm", "before"), ("confirm", "after"))):
        programs.append(
            (
                "hosted page: a decline, then a card, then the expiry",
                [
                    Step("pay", 0, "client:5000:key"),
                    Step("page_pay", 0, "decline"),
                    Step("page_pay", 0, "ok", fault, at),
                    Step("clock", 0, str(CLIENT_EXPIRES_IN + 1)),
                    Step("expire", 0, ""),
                    Step("webhook", 0, "all"),
                ],
            )
        )
    return programs


def steps_shrink(steps: list[Step], still_fails) -> list[Step]:
    """Takes steps away, one at a time from the end, while the run still fails
    with the same invariant: a shorter reproduction."""
    current = list(steps)
    index = len(current) - 1
    tries = 0
    while index >= 0 and tries < 80:
        candidate = current[:index] + current[index + 1 :]
        tries += 1
        if candidate and still_fails(candidate):
            current = candidate
        index -= 1
    return current
