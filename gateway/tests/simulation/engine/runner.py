"""The simulation's runner: a run of steps on a clean database (Simulation),
each step with its faults armed and its interleavings at the PSP's step
boundaries, its after-commit work run (or lost with a crashed process), the
invariants checked after it, and the quiescence at the end; and the shrinker
that takes steps away from a failing run while it still fails."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from django.db import connection
from rest_framework.test import APIClient

from gateway.tests.simulation.engine.background import BackgroundOperations
from gateway.tests.simulation.engine.invariants import Invariants
from gateway.tests.simulation.engine.merchant import MerchantOperations
from gateway.tests.simulation.engine.world import (
    LEASE_SECONDS,
    RECONCILE_AGE_SECONDS,
    Answer,
    Crash,
    InvariantViolated,
    Order,
    RecordingOtpSender,
    Step,
)
from payments.tests import fake_psp as fake_psp_module
from payments.tests.fake_psp import FakePsp, SimClock


class Simulation(MerchantOperations, BackgroundOperations, Invariants):
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
        self.check_at_rest()


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
