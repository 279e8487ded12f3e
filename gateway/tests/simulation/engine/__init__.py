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

The engine's modules, one concern each:

- world.py: the model of the world: steps, orders, answers, the payer's mailbox;
- programs.py: the steps of a run, random from a seed or exhaustive;
- runner.py: Simulation, which runs the steps, and the shrinker (steps_shrink);
- merchant.py: the merchant's operations through the API;
- background.py: webhooks, background jobs, the payer at the PSP, the operator;
- invariants.py: what must hold after every answer, every step and at rest.
"""

from __future__ import annotations

from gateway.tests.simulation.engine.programs import steps_exhaustive, steps_generate
from gateway.tests.simulation.engine.runner import Simulation, steps_shrink
from gateway.tests.simulation.engine.world import InvariantViolated, RecordingOtpSender, Step

# What the tests, their fixture and settings.OTP_SENDER name from the engine.
__all__ = [
    "InvariantViolated",
    "RecordingOtpSender",
    "Simulation",
    "Step",
    "steps_exhaustive",
    "steps_generate",
    "steps_shrink",
]
