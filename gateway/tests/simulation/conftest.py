"""The simulation's fixture: a run of steps on a clean database and a new fake PSP."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache
from django.db import transaction

from gateway.tests.simulation.engine import InvariantViolated, Simulation
from payments.tests import fake_psp as fake_psp_module


@pytest.fixture
def simulate(settings, sim_clock, monkeypatch):
    """run(steps) -> (stats, failure or None), each run on a clean database
    (rolled back after it) and a new fake PSP."""
    from gateway.events import outbox
    from payments import tasks

    settings.PAYMENT_PROVIDER = "payments.tests.fake_psp.current"
    settings.OTP_SENDER = "gateway.tests.simulation.engine.RecordingOtpSender"
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "otp_validate": ""}
    settings.OTP_MAX_SENDS_PER_HOUR = 10**6
    settings.OTP_REQUIRED_ABOVE = {}
    settings.IDEMPOTENCY_LEASE_SECONDS = 90
    settings.IDEMPOTENCY_KEY_REQUIRED = False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DJSTRIPE_MIRROR = "off"
    settings.RECONCILE_AFTER_MINUTES = 10
    current = {}
    logging.disable(logging.ERROR)  # thousands of expected 4xx/5xx lines; the invariants speak
    # The outbox table is what is checked: no wake-ups, no webhooks.
    monkeypatch.setattr(outbox, "outbox_publish_soon", lambda **_: None)
    monkeypatch.setattr(tasks.payment_charge_task, "delay", lambda pk: current["sim"].queue_task(pk))

    def run(steps, *, quiesce=True):
        with transaction.atomic():
            cache.clear()
            sim = current["sim"] = Simulation(sim_clock)
            try:
                sim.run(steps, quiesce=quiesce)
                return sim.stats, None
            except InvariantViolated as failure:
                failure.step = sim._step_index
                return sim.stats, failure
            except Exception as error:  # noqa: BLE001  an unhandled error is a failure like any other
                failure = InvariantViolated("unhandled_error", repr(error))
                failure.step = sim._step_index
                failure.__cause__ = error
                return sim.stats, failure
            finally:
                transaction.set_rollback(True)
                fake_psp_module.install(None)

    yield run
    logging.disable(logging.NOTSET)
