"""The programs a simulation runs: random steps drawn from a seed
(steps_generate), and the exhaustive small programs (steps_exhaustive), one per
fault and interleaving of one operation. Everything random is drawn here, when
the steps are made, none while they run."""

from __future__ import annotations

import random

from gateway.tests.simulation.engine.world import (
    AMOUNTS,
    CLIENT_EXPIRES_IN,
    KINDS,
    LEASE_SECONDS,
    RECONCILE_AGE_SECONDS,
    Step,
)

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
