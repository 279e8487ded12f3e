"""The simulation's runs (gateway.tests.simulation.engine).

`make test` and `make test-fast` run a fixed set of seeds: deterministic, so a
landing never depends on luck. `make simulate` runs random seeds for
SIM_SECONDS (SIM_SEED=n replays from seed n) and prints what it did. A failure
prints its seed and a shrunk list of steps; paste them into
test_simulation_regressions.py as a plain regression test.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections import Counter

import pytest

from gateway.tests.simulation.engine import (
    steps_exhaustive,
    steps_generate,
    steps_shrink,
)

pytestmark = [pytest.mark.django_db, pytest.mark.fast, pytest.mark.simulation]

FIXED_SEEDS = range(int(os.environ.get("SIM_RUNS", "12")))
STEPS_PER_RUN = int(os.environ.get("SIM_STEPS", "30"))


def report(label, steps, failure, simulate) -> str:
    shrunk = steps_shrink(steps, lambda candidate: (f := simulate(candidate)[1]) and f.name == failure.name)
    _, again = simulate(shrunk)
    lines = ",\n    ".join(repr(step) for step in shrunk)
    return (
        f"{label}: {failure} (at step {failure.step})\n"
        f"replay as a regression test (gateway/tests/simulation/test_simulation_regressions.py):\n"
        f"steps = [\n    {lines},\n]\n"
        f"shrunk run fails with: {again}"
    )


def test_every_fault_and_interleaving_of_one_operation(simulate):
    """The small scope, whole: each program is one operation (a payment, an
    async charge, a refund, a capture, an OTP validation) under one fault of its
    PSP call and one interleaving at one of its step boundaries, then retries,
    webhooks and the clock past the PSP's key window; every combination runs."""
    if os.environ.get("SIM_SECONDS"):
        return  # `make simulate` is about random programs; `make test` runs these
    totals = Counter()
    programs = steps_exhaustive()
    for number, (name, steps) in enumerate(programs):
        stats, failure = simulate(steps)
        totals.update(stats)
        if failure is not None:
            pytest.fail(report(f"program {number} ({name})", steps, failure, simulate), pytrace=False)
    print(
        f"\nexhaustive: {len(programs)} programs, {totals['operations']} operations, "
        f"{totals['interleavings']} interleavings, {totals['crashes']} crashes, "
        f"{totals['faults armed']} faults armed"
    )
    assert totals["interleavings"] >= len(programs) // 2


def test_simulation(simulate):
    """Every invariant holds after every step of every run, and at rest."""
    seconds = float(os.environ.get("SIM_SECONDS", "0"))
    base = int(os.environ.get("SIM_SEED", random.randrange(10**6) if seconds else 0))
    seeds = itertools.count(base) if seconds else (base + n for n in FIXED_SEEDS)
    deadline = time.monotonic() + seconds
    totals, runs, started = Counter(), 0, time.monotonic()
    for seed in seeds:
        if seconds and time.monotonic() > deadline:
            break
        steps = steps_generate(random.Random(seed), STEPS_PER_RUN)
        stats, failure = simulate(steps)
        totals.update(stats)
        runs += 1
        if failure is not None:
            pytest.fail(report(f"seed {seed}", steps, failure, simulate), pytrace=False)
    elapsed = time.monotonic() - started
    print(
        f"\nsimulation: {runs} runs from seed {base} in {elapsed:.1f} s; "
        f"{totals['operations']} operations, {totals['interleavings']} interleavings, "
        f"{totals['faults armed']} faults armed, {totals['crashes']} crashes, "
        f"{totals['psp calls']} PSP calls, {totals['webhooks delivered']} webhooks, "
        f"{totals['invariant checks']} state checks and {totals['invariants checked']} answer checks; "
        "every invariant held"
    )
    print(
        "answers: " + ", ".join(f"{k[7:]}: {v}" for k, v in sorted(totals.items()) if k.startswith("answer:"))
    )
    assert runs > 0 and totals["invariant checks"] >= runs * STEPS_PER_RUN
