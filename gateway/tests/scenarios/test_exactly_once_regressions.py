"""Regression tests of issue #24: each money-handling defect found by reading
the code, as an interleaving of requests, a fault, the clock and a background
job, replayed against the fake PSP (payments.tests.fake_psp) on the test's
clock. Each failed before its fix; the simulation (gateway/tests/simulation)
covers the class each one is a sample of.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.enums import PaymentStatus
from payments.models import Payment
from payments.services.api_clients import api_client_create
from payments.services.charges import payment_fail
from payments.services.idempotency import idempotency_begin, idempotency_release
from payments.services.reconcile import payment_reconcile
from payments.tests.fixtures import payment_body

# The case of docs/RELIABILITY.md both modules of issue #24's regressions prove.
ISSUE_24 = pytest.mark.reliability(
    "Exactly once",
    "Issue #24's defects, each replayed against the fake PSP on a test clock: a lease that ran out, "
    "OTP validation resumed, reconciliation, the review command, rolling deploys, a PSP 401, the capture "
    "key, the async task past the key window, key rotation (the simulation covers each class: "
    "make test-fast)",
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.fast,
    ISSUE_24,
]

LEASE = 90


class Crash(BaseException):  # noqa: N818  a process that dies: nothing catches it, its lease stays
    """A worker killed mid-request (SIGKILL): no handler runs, no 5xx is answered."""


def post(api, path, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(path, body, format="json", **headers)


def process(api, key=None, **overrides):
    return post(api, "/api/v1/payments/process", payment_body(**overrides), key)


def money_taken(psp, payment) -> int:
    return psp.money_taken(str(payment.uuid))


@pytest.fixture(autouse=True)
def _lease(settings):
    settings.IDEMPOTENCY_LEASE_SECONDS = LEASE


# --- 1. a lease that runs out while its request is still working -------------------------------


def test_a_request_whose_lease_ran_out_neither_answers_a_conflict_nor_overwrites_the_stored_answer(
    api, fake_psp, sim_clock
):
    """A raw-card payment makes two PSP calls. Its lease runs out after the first;
    a retry takes the key over and records and charges the payment. The first
    request then comes back: it goes on with the same payment, and the retry's
    stored 201 stays the answer of the key."""
    answers = {}

    def retry_during_tokenize(operation, phase, key):
        if operation == "tokenize_card" and phase == "after" and "retry" not in answers:
            answers["retry"] = None
            sim_clock.advance(LEASE + 1)
            answers["retry"] = process(api, key="order-1-attempt")

    fake_psp.interleave = retry_during_tokenize
    first = process(api, key="order-1-attempt")
    fake_psp.interleave = None
    replay = process(api, key="order-1-attempt")

    retry = answers["retry"]
    assert retry.status_code == 201, retry.json()
    assert first.status_code == 201, first.json()
    assert first.json()["payment_id"] == retry.json()["payment_id"]
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == {k: v for k, v in retry.json().items() if k != "client_secret"}
    assert Payment.objects.count() == 1
    assert len(fake_psp.intents) == 1
    assert money_taken(fake_psp, Payment.objects.get()) == 1999


def test_a_stale_request_ending_in_a_5xx_does_not_end_the_lease_of_the_request_that_took_its_key_over(
    merchant, sim_clock
):
    begin = dict(client=merchant, key="k", method="POST", path="/api/v1/payments/process", fingerprint="f")
    stale = idempotency_begin(**begin)
    sim_clock.advance(LEASE + 1)
    owner = idempotency_begin(**begin)

    assert owner.resumed and owner.operation_uuid == stale.operation_uuid
    assert idempotency_release(claim=stale) is False
    with pytest.raises(Exception) as refused:
        idempotency_begin(**begin)
    assert refused.value.code == "idempotency_key_in_use"


# --- 2. OTP validate resumes ------------------------------------------------------------------


def test_a_retried_otp_validation_goes_on_with_the_charge_its_first_attempt_started(
    api, fake_psp, sim_clock, django_capture_on_commit_callbacks, settings
):
    from otp.tests.support import EMAIL, last_code

    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        held = process(api, require_otp=True, email=EMAIL).json()
    assert held["status"] == "requires_otp", held

    def die_after_the_charge(operation, phase, key):
        if operation == "charge" and phase == "after":
            raise Crash()

    fake_psp.interleave = die_after_the_charge
    body = {"payment_id": held["payment_id"], "otp": last_code()}
    with pytest.raises(Crash):
        post(api, "/api/v1/payments/validate", body, key="validate-1")
    fake_psp.interleave = None
    sim_clock.advance(LEASE + 1)
    retry = post(api, "/api/v1/payments/validate", body, key="validate-1")

    assert retry.status_code == 200, retry.json()
    assert retry.json()["status"] == "succeeded"
    payment = Payment.objects.get()
    assert money_taken(fake_psp, payment) == payment.amount_minor == payment.captured_minor


# --- 3. reconciliation never sends a charge that never left -----------------------------------


def test_reconciliation_does_not_send_the_charge_of_a_request_that_died_before_it_left(
    api, fake_psp, sim_clock
):
    def die_before_the_charge_leaves(operation, phase, key):
        if operation == "charge" and phase == "before":
            raise Crash()

    fake_psp.interleave = die_before_the_charge_leaves
    with pytest.raises(Crash):
        process(api, order_id="order-9", payment_method="pm_card_visa", card=None)
    fake_psp.interleave = None
    # The merchant saw no answer and retried without a key: a second payment, charged.
    second = process(api, order_id="order-9", payment_method="pm_card_visa", card=None)
    assert second.status_code == 201
    first = Payment.objects.exclude(public_id=second.json()["payment_id"]).get()
    assert first.status == PaymentStatus.PROCESSING

    sim_clock.advance(600)
    first = payment_reconcile(payment=first, actor="system:reconcile")

    charged = [i for i in fake_psp.intents.values() if i.metadata.get("order_id") == "order-9"]
    assert len(charged) == 1
    assert first.status == PaymentStatus.PROCESSING and first.review_reason  # parked, not charged


def test_reconciliation_still_sends_the_charge_of_a_payment_queued_with_async(
    api, fake_psp, sim_clock, monkeypatch
):
    from payments import tasks

    monkeypatch.setattr(tasks.payment_charge_task, "delay", lambda pk: None)  # the worker never ran it
    queued = process(api, payment_method="pm_card_visa", card=None, **{"async": True})
    assert queued.status_code == 202
    sim_clock.advance(600)

    payment = payment_reconcile(payment=Payment.objects.get(), actor="system:reconcile")

    assert payment.status == PaymentStatus.SUCCEEDED
    assert money_taken(fake_psp, payment) == payment.captured_minor == 1999


# --- 4. the review command --------------------------------------------------------------------


def _charged_but_recorded_failed(api, fake_psp):
    """A charge that timed out after the PSP took the money, recorded failed (as an
    earlier release or an operator did), then found by the PSP's webhook."""
    from stripe_integration.webhooks import _on_payment_intent

    fake_psp.fault("charge", "timeout_after")
    answer = process(api, payment_method="pm_card_visa", card=None)
    assert answer.status_code == 202, answer.json()
    payment = payment_fail(payment=Payment.objects.get(), code="not_charged", message="", actor="test")
    event = next(e for e in fake_psp.events if e["type"] == "payment_intent.succeeded")
    _on_payment_intent(event)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED and payment.review_reason
    return payment


def test_resolving_a_review_does_not_clear_it_while_the_psp_holds_the_money(api, fake_psp):
    payment = _charged_but_recorded_failed(api, fake_psp)
    out = StringIO()

    with pytest.raises(CommandError, match="psp_holds_money"):
        call_command("payment_review_resolve", payment.public_id, "--not-charged", stdout=out)
    with pytest.raises(CommandError, match="psp_holds_money"):
        call_command(
            "payment_review_resolve", payment.public_id, "--payment-intent", payment.stripe_payment_intent_id
        )
    payment.refresh_from_db()
    assert payment.review_reason and money_taken(fake_psp, payment) == 1999

    call_command("payment_review_resolve", payment.public_id, "--return-charge", stdout=out)
    payment.refresh_from_db()
    assert payment.review_reason == "" and payment.status == PaymentStatus.FAILED
    assert money_taken(fake_psp, payment) == 0
    assert payment.events.filter(type="review_resolved").count() == 1


def test_the_review_command_never_picks_one_of_several_clients_payments(fake_psp):
    from payments.tests.factories import PaymentFactory

    first, _ = api_client_create(name="shop-a")
    second, _ = api_client_create(name="shop-b")
    mine = PaymentFactory(client=first, public_id="order-42", review_reason="x")
    PaymentFactory(client=second, public_id="order-42", review_reason="y")

    with pytest.raises(CommandError, match="Say which with --client"):
        call_command("payment_review_resolve", "order-42", "--not-charged")
    call_command(
        "payment_review_resolve", "order-42", "--client", "shop-a", "--not-charged", stdout=StringIO()
    )
    mine.refresh_from_db()
    assert mine.review_reason == "" and mine.status == PaymentStatus.FAILED
    assert Payment.objects.get(client=second).review_reason == "y"
