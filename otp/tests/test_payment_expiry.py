"""A payment held for a code with `expires_in`: once expired, a right code
charges nothing (before the sweep has canceled it), against the fake PSP."""

from __future__ import annotations

import pytest

from payments.tests.fixtures import payment_body

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


def test_a_code_for_an_expired_payment_charges_nothing(
    api, fake_psp, sim_clock, settings, django_capture_on_commit_callbacks
):
    from otp.tests.support import last_code

    settings.CELERY_TASK_ALWAYS_EAGER = True  # the code's e-mail is a task: here, not on a broker

    body = payment_body(
        card=None, payment_method="pm_card_visa", require_otp=True, email="payer@example.com", expires_in=30
    )
    with django_capture_on_commit_callbacks(execute=True):  # the code is sent after commit
        answer = api.post("/api/v1/payments/process", body, format="json").json()
    sim_clock.advance(31)  # before the sweep has run
    refused = api.post(
        "/api/v1/payments/validate", {"payment_id": answer["payment_id"], "otp": last_code()}, format="json"
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payment_expired"
    assert fake_psp.intents == {}
