"""manage.py stripe_reconcile and the beat task settle payments from Stripe."""

from io import StringIO

import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command

from payments.models import Payment
from payments.tasks import reconcile_stuck_task
from payments.tests.fixtures import card

pytestmark = pytest.mark.django_db


def _authenticated_three_ds_payment(pay) -> Payment:
    body = pay(card=card("4000002500003155")).json()
    requests.post(
        f"{settings.STRIPE_API_BASE}/v1/payment_intents/{body['transaction_id']}/_authenticate",
        data={"client_secret": body["client_secret"], "success": "true"},
        auth=(settings.STRIPE_SECRET_KEY, ""),
        timeout=10,
    ).raise_for_status()
    return Payment.objects.get(public_id=body["payment_id"])


def _reconcile(*args) -> str:
    out = StringIO()
    call_command("stripe_reconcile", *args, stdout=out)
    return out.getvalue()


def test_reconcile_settles_payments_and_prints_a_summary_and_is_idempotent(pay):
    payment = _authenticated_three_ds_payment(pay)

    first = _reconcile("--since", "1h")
    second = _reconcile("--since", "1h")

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert "requires_action      succeeded" in first
    assert "1/1" in first
    assert "total" in second and "requires_action" not in second


def test_reconcile_rejects_unknown_statuses_and_dates():
    with pytest.raises(CommandError):
        _reconcile("--status", "bogus")
    with pytest.raises(CommandError):
        _reconcile("--since", "last tuesday")


def test_the_beat_task_settles_only_payments_stuck_long_enough(pay, settings):
    payment = _authenticated_three_ds_payment(pay)

    settings.RECONCILE_AFTER_MINUTES = 60
    nothing = {"settled": 0, "failed": 0, "refunds_settled": 0, "refunds_failed": 0}
    assert reconcile_stuck_task() == nothing
    settings.RECONCILE_AFTER_MINUTES = 0
    assert reconcile_stuck_task() == {**nothing, "settled": 1}
    payment.refresh_from_db()
    assert payment.status == "succeeded"
