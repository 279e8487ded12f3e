"""Proof that the simulation bites: hand-written mutants of the money-moving
code, each a defect the simulation's default run (the fixed seeds that `make
test` runs) must catch.

`make simulate-mutants` applies each mutant to its file in turn, runs the
simulation in a fresh process, restores the file, and prints a table of the
mutant, the invariant that caught it and the seed and step; it exits 1 if any
mutant survives. Each mutant must match its file exactly once, so a mutant
that no longer applies (the code moved) fails loudly instead of passing.

    .venv/bin/python -m gateway.tests.simulation.mutants [name ...]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    what: str


MUTANTS = [
    Mutant(
        "stale_answer_not_replaced",
        "payments/http.py",
        "            if stored is not None:\n                return Response(",
        "            if False:\n                return Response(",
        "a request whose key was taken over answers its own (older) view, not the key's stored answer",
    ),
    Mutant(
        "resend_past_window",
        "payments/services/charges.py",
        "return payment.created_at <= (now or timezone.now()) - window",
        "return False",
        "the PSP's key window never passes: charges are resent after the PSP forgot their key",
    ),
    Mutant(
        "refund_marked_before_answer",
        "payments/services/refunds.py",
        "        # until the webhook or reconciliation (refund_reconcile) settles it.\n        return refund",
        "        # until the webhook or reconciliation (refund_reconcile) settles it.\n"
        "        return refund_settle(refund=refund, status=RefundStatus.SUCCEEDED, actor=actor)",
        "a refund whose answer was lost is recorded refunded before the PSP says so",
    ),
    Mutant(
        "settle_without_compare_and_set",
        "payments/services/charges.py",
        "payment, result, actor, event_type, cancellation_reason, expected_status=payment.status",
        "payment, result, actor, event_type, cancellation_reason, expected_status=None",
        "settling from the PSP's answer without the compare-and-set on the status last read",
    ),
    Mutant(
        "refund_settled_twice",
        "payments/services/refunds.py",
        "pk=refund.pk, status=RefundStatus.PENDING",
        "pk=refund.pk",
        "a refund settled again when its answer and its webhook both arrive: counted twice",
    ),
    Mutant(
        "reconcile_charges_what_never_left",
        "payments/services/reconcile.py",
        "if payment_charge_promised(payment) and not payment_past_psp_idempotency_window(payment):",
        "if not payment_past_psp_idempotency_window(payment):",
        "reconciliation sends the charge of a synchronous request that died before it left",
    ),
    Mutant(
        "any_psp_error_fails_the_payment",
        "payments/services/charges.py",
        "        if not psp_refused(exc):",
        "        if False:",
        "a rejected API key or a rate limit marks the payment failed, answered as a decline",
    ),
    Mutant(
        "stale_request_answers_duplicate",
        "payments/services/payments.py",
        "        if earlier is not None:\n            raise PaymentAlreadyRecorded(earlier) from exc",
        "        if False:\n            raise PaymentAlreadyRecorded(earlier) from exc",
        "a request whose lease ran out answers 409 duplicate_payment_id for the payment its retry made",
    ),
    Mutant(
        "refund_over_capture",
        "payments/services/refunds.py",
        "        if amount > refundable:",
        "        if False:",
        "no check of the refund against what remains refundable (the PSP or the database must stop it)",
    ),
    Mutant(
        "partial_capture_recorded_in_full",
        "payments/services/charges.py",
        "payment.captured_minor = result.amount_received_minor or payment.amount_minor",
        "payment.captured_minor = payment.amount_minor",
        "a partial capture recorded as the whole authorized amount",
    ),
    Mutant(
        "failed_refund_keeps_its_reservation",
        "payments/services/refunds.py",
        "            payment.refunded_minor -= refund.amount_minor",
        "            payment.refunded_minor -= 0",
        "a refund the PSP refused keeps its amount reserved",
    ),
    Mutant(
        "failed_payment_can_succeed",
        "payments/enums.py",
        "    _S.PARTIALLY_REFUNDED: frozenset({_S.PARTIALLY_REFUNDED, _S.REFUNDED}),",
        "    _S.PARTIALLY_REFUNDED: frozenset({_S.PARTIALLY_REFUNDED, _S.REFUNDED}),\n"
        "    _S.FAILED: frozenset({_S.SUCCEEDED}),",
        "a final status may change: a failed payment becomes succeeded when the PSP says so",
    ),
    Mutant(
        "otp_validation_does_not_resume",
        "otp/services.py",
        "    if operation and payment.events.filter(",
        "    if False and payment.events.filter(",
        "a retried OTP validation after the charge started is answered 409/410 while the payer is charged",
    ),
    Mutant(
        "expiry_cancels_without_the_psp",
        "payments/services/expiry.py",
        "        return payment_cancel(payment=payment, actor=actor, cancellation_reason=CANCELED_EXPIRED)",
        "        from payments.services.payments import payment_locked, payment_transition\n"
        "        with payment_locked(payment) as locked:\n"
        "            locked.cancellation_reason = CANCELED_EXPIRED\n"
        "            return payment_transition(\n"
        "                payment=locked, new_status='canceled', event_type='canceled',\n"
        "                actor=actor, update_fields=['cancellation_reason'])",
        "an expired payment is canceled in the gateway only: a payer who paid at the PSP in time is canceled",
    ),
]


def run_simulation() -> tuple[bool, str]:
    env = dict(os.environ, DJANGO_DEBUG="true", PYTHONDONTWRITEBYTECODE="1")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "KAFKA_BROKERS", "REQUIRE_SERVICES"):
        env.pop(name, None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-migrations",
            "-x",
            "gateway/tests/simulation/test_simulation.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result.returncode == 0, result.stdout + result.stderr


def caught_by(output: str) -> str:
    match = re.search(r"^(seed \d+|program \d+ \([^)]*\)): (\w+): .*\(at step (\w+)\)", output, re.MULTILINE)
    if match:
        return f"`{match.group(2)}` ({match.group(1)}, step {match.group(3)})"
    error = re.search(r"^E\s+(.*)$", output, re.MULTILINE)
    return f"test error: {error.group(1)[:80]}" if error else "the run failed"


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    rows, survivors = [], []
    for mutant in chosen:
        path = ROOT / mutant.path
        original = path.read_text()
        if original.count(mutant.old) != 1:
            print(
                f"{mutant.name}: its code is not in {mutant.path} exactly once; update the mutant", flush=True
            )
            return 2
        started = time.monotonic()
        try:
            path.write_text(original.replace(mutant.old, mutant.new))
            passed, output = run_simulation()
        finally:
            path.write_text(original)
        seconds = time.monotonic() - started
        verdict = "**survived**" if passed else caught_by(output)
        if passed:
            survivors.append(mutant.name)
        rows.append(f"| `{mutant.name}` | {mutant.what} | {verdict} | {seconds:.0f} s |")
        print(rows[-1], flush=True)
    table = "| mutant | the defect | caught by | time |\n|---|---|---|---|\n" + "\n".join(rows)
    print("\n" + table)
    if not names:
        from gateway.tests.simulation.report import commit, docs_block_update

        docs_block_update(
            "mutants",
            f"`make simulate-mutants` at commit `{commit()}`: {len(chosen) - len(survivors)} of "
            f"{len(chosen)} mutants caught by the simulation's default run (the fixed seeds and "
            "programs of `make test`).\n\n" + table,
        )
    print(
        f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants caught"
        + (f"; survived: {survivors}" if survivors else "")
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
