"""Reconciliation never charges or refunds twice, whatever the PSP remembers.

- Past the PSP's idempotency window (Stripe keeps keys about 24 hours), a
  payment whose PaymentIntent we never stored is found by a search on our
  metadata, never charged again; when the search cannot decide, the payment is
  parked for an operator.
- A refund whose outcome is unknown (a timeout, a refused connection) is found
  at the PSP and settled, or sent again when the PSP never got it.

Against localstripe through our launcher, which keeps Stripe's idempotency keys
and can forget them (DELETE /_config/idempotency_keys) as Stripe does after its
window, and serves Stripe's PaymentIntent search.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from conftest import staff_login
from payments.models import Payment, PaymentEvent, Refund
from payments.providers import ChargeRequest, PspOutcomeUnknown
from payments.services.reconcile import payment_reconcile
from payments.tests.factories import PaymentFactory
from payments.tests.fixtures import psp_intents, psp_refunds
from stripe_integration import client as psp_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _search_without_lag(settings):
    """Our localstripe launcher's search has no index lag (Stripe's lags about a
    minute, PSP_SEARCH_LAG_SECONDS): reconciliation may trust it at once here."""
    settings.PSP_SEARCH_LAG_SECONDS = 0


def _forget_psp_idempotency_keys(base: str) -> None:
    """As Stripe does once its window has passed."""
    requests.delete(f"{base}/_config/idempotency_keys", timeout=5).raise_for_status()


def _lost_answer_payment(api, fail_once) -> Payment:
    """A payment charged at the PSP whose answer we never saved: the charge went
    through, then the database failed (503), and the client never came back."""
    order_id = f"lost-{uuid.uuid4().hex[:12]}"
    fail_once("payments.services.charges.payment_apply_charge_result")
    response = api.post(
        "/api/v1/payments/process",
        {"order_id": order_id, "amount": "30.00", "currency": "usd", "payment_method": "pm_card_visa"},
        format="json",
    )
    assert response.status_code == 503
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.stripe_payment_intent_id) == ("processing", "")
    assert len(psp_intents(order_id=order_id)) == 1
    return payment


def _age(payment: Payment, hours: int) -> None:
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    payment.refresh_from_db()


@pytest.mark.reliability(
    "Exactly once",
    "Reconciliation never sends the charge of a request that got no answer (its client may have sent a "
    "second payment): the lost answer is found by a search; a charge owed under a key is sent again with it",
)
def test_within_the_window_a_lost_answer_is_found_by_search_and_nothing_is_sent_again(
    api, localstripe, fail_once
):
    """The client got a 503 and may have retried without a key, as a second
    payment: reconciliation finds the first charge, it never sends one (issue #24)."""
    payment = _lost_answer_payment(api, fail_once)
    charges_before = len(psp_intents(order_id=payment.order_id))

    settled = payment_reconcile(payment=payment, actor="system:reconcile")

    assert settled.status == "succeeded"
    assert charges_before == 1
    assert [pi.id for pi in psp_intents(order_id=payment.order_id)] == [settled.stripe_payment_intent_id]


@pytest.mark.reliability(
    "Exactly once",
    "Past the PSP's key window (keys forgotten, payment 25 h old): the PaymentIntent is found by search, "
    "never charged again; none or two found: parked for an operator (admin, /metrics), resolved by command",
)
def test_past_the_window_the_payment_intent_is_found_by_search_not_charged_again(api, localstripe, fail_once):
    payment = _lost_answer_payment(api, fail_once)
    _forget_psp_idempotency_keys(localstripe)
    _age(payment, hours=25)

    settled = payment_reconcile(payment=payment, actor="system:reconcile")

    intents = psp_intents(order_id=payment.order_id)
    assert len(intents) == 1  # a blind resend would have made a second PaymentIntent
    assert settled.status == "succeeded"
    assert settled.stripe_payment_intent_id == intents[0].id
    assert settled.review_reason == ""


@pytest.mark.reliability(
    "Exactly once",
    "Past the PSP's key window (keys forgotten, payment 25 h old): the PaymentIntent is found by search, "
    "never charged again; none or two found: parked for an operator (admin, /metrics), resolved by command",
)
def test_past_the_window_with_no_payment_intent_the_payment_is_parked_not_charged(
    merchant, localstripe, client
):
    payment = PaymentFactory(client=merchant, amount_minor=1500, status="processing")
    _age(payment, hours=30)

    parked = payment_reconcile(payment=payment, actor="system:reconcile")
    again = payment_reconcile(payment=parked, actor="system:reconcile")

    assert parked.status == "processing"  # neither charged nor failed by a guess
    assert "no PaymentIntent" in parked.review_reason
    assert psp_intents(gateway_payment_uuid=str(payment.uuid)) == []
    assert PaymentEvent.objects.filter(payment=payment, type="review_required").count() == 1  # once
    assert again.review_reason == parked.review_reason
    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "gateway_payments_needing_review 1.0" in metrics

    out = StringIO()
    call_command("payment_review_resolve", payment.public_id, "--not-charged", stdout=out)

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.review_reason) == ("failed", "not_charged", "")
    assert "failed" in out.getvalue()


@pytest.mark.reliability(
    "Exactly once",
    "Past the PSP's key window (keys forgotten, payment 25 h old): the PaymentIntent is found by search, "
    "never charged again; none or two found: parked for an operator (admin, /metrics), resolved by command",
)
def test_past_the_window_two_payment_intents_for_one_payment_are_left_to_an_operator(merchant, localstripe):
    payment = PaymentFactory(client=merchant, amount_minor=700, status="processing")
    for attempt in range(2):  # as a blind resend past the window would have made
        psp_client.payment_intent_create(
            request=ChargeRequest(
                amount_minor=700,
                currency="usd",
                idempotency_key=f"other-{uuid.uuid4().hex}-{attempt}",
                payment_method_id="pm_card_visa",
                metadata={"gateway_payment_uuid": str(payment.uuid), "order_id": payment.order_id},
            )
        )
    _age(payment, hours=25)

    parked = payment_reconcile(payment=Payment.objects.get(pk=payment.pk), actor="system:reconcile")

    assert parked.status == "processing"
    assert parked.review_reason.startswith("2 PaymentIntents")
    assert len(psp_intents(gateway_payment_uuid=str(payment.uuid))) == 2  # nothing more was charged


# --- refunds whose outcome is unknown ---------------------------------------------------


def _refund_answer_lost(monkeypatch, *, reached_the_psp: bool) -> None:
    """The PSP call of a refund ends without an answer (a timeout): after the PSP
    made the refund, or before it got the request."""
    original = psp_client.refund_create

    def lost(*, request):
        if reached_the_psp:
            original(request=request)
        raise PspOutcomeUnknown()

    monkeypatch.setattr(psp_client, "refund_create", lost)


@pytest.mark.reliability(
    "Exactly once",
    "A refund of unknown outcome (the PSP made it, or never got it) is settled by `manage.py "
    "refund_reconcile` and by an admin action; one refund at the PSP",
)
@pytest.mark.parametrize("reached_the_psp", [True, False], ids=["psp-made-it", "psp-never-got-it"])
def test_a_refund_whose_outcome_is_unknown_is_settled_by_the_command(api, pay, monkeypatch, reached_the_psp):
    payment_id = pay(amount="50.00").json()["payment_id"]
    _refund_answer_lost(monkeypatch, reached_the_psp=reached_the_psp)
    answered = api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "20.00"}, format="json")
    monkeypatch.undo()
    refund = Refund.objects.get(payment__public_id=payment_id)
    assert answered.status_code == 202 and answered.json()["status"] == "pending"  # unknown outcome
    assert refund.status == "pending"

    out = StringIO()
    call_command("refund_reconcile", stdout=out)
    call_command("refund_reconcile", stdout=StringIO())  # again: nothing more happens

    refund.refresh_from_db()
    payment = Payment.objects.get(public_id=payment_id)
    assert refund.status == "succeeded"
    assert (payment.status, payment.refunded_minor) == ("partially_refunded", 2000)
    assert [r.refund_id for r in psp_refunds(payment.stripe_payment_intent_id)] == [refund.stripe_refund_id]
    assert "succeeded" in out.getvalue()


@pytest.mark.reliability(
    "Exactly once",
    "A refund of unknown outcome (the PSP made it, or never got it) is settled by `manage.py "
    "refund_reconcile` and by an admin action; one refund at the PSP",
)
def test_operators_settle_a_pending_refund_from_the_admin(api, pay, monkeypatch):
    payment_id = pay(amount="50.00").json()["payment_id"]
    _refund_answer_lost(monkeypatch, reached_the_psp=True)
    api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json")
    monkeypatch.undo()
    refund = Refund.objects.get(payment__public_id=payment_id)
    operator = User.objects.create_user("olga", password="pw", is_staff=True)
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_refund", "view_payment", "refund_payment"])
    )
    viewer = User.objects.create_user("vera", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_refund", "view_payment"]))
    action = {"action": "reconcile", "_selected_action": [refund.pk]}

    as_viewer, as_operator = Client(), Client()
    staff_login(as_viewer, viewer)
    staff_login(as_operator, operator)
    as_viewer.post("/admin/payments/refund/", action, follow=True)
    refund.refresh_from_db()
    assert refund.status == "pending"  # the action is not offered to a viewer
    response = as_operator.post("/admin/payments/refund/", action, follow=True)

    refund.refresh_from_db()
    assert "1 pending refund(s) settled" in response.content.decode()
    assert refund.status == "succeeded"


# --- the stand-in keeps Stripe's idempotency contract ------------------------------------


@pytest.mark.reliability(
    "Exactly once",
    "The PSP stand-in keeps Stripe's idempotency contract: a key replays, other parameters are a 400",
)
def test_localstripe_replays_a_key_and_refuses_it_with_other_parameters(localstripe, settings):
    auth = (settings.STRIPE_SECRET_KEY, "")
    key = f"ls-{uuid.uuid4().hex}"
    body = {"amount": 500, "currency": "usd", "confirm": "true", "payment_method": "pm_card_visa"}

    def create(data, api_key=auth):
        return requests.post(
            f"{localstripe}/v1/payment_intents",
            data=data,
            auth=api_key,
            headers={"Idempotency-Key": key},
            timeout=10,
        )

    first, second = create(body), create(body)
    other = create({**body, "amount": 600})
    other_account = create(body, api_key=("sk_test_anotherAccountKey000000000000", ""))

    assert first.status_code == second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    assert other_account.json()["id"] != first.json()["id"]  # keys are per account


# --- answers that mean "it may have happened", never "it failed" -------------------------


@pytest.mark.reliability(
    "Exactly once",
    "A charge the PSP answers with an idempotency conflict (or a 429 on a retry) stays processing for "
    "reconciliation, never failed; a resent charge keeps its return_url; a PSP success for a payment "
    "recorded failed is parked for an operator",
)
def test_a_charge_whose_key_the_psp_saw_with_other_parameters_is_not_marked_failed(merchant, localstripe):
    from payments.services.charges import payment_charge

    payment = PaymentFactory(client=merchant, amount_minor=700, status="processing")
    # An earlier attempt under the same key, with other parameters (a changed amount, a lost return_url):
    # the PSP answers 400 idempotency_error, which proves it was reached.
    psp_client.payment_intent_create(
        request=ChargeRequest(
            amount_minor=900,
            currency="usd",
            idempotency_key=f"gw-charge-{payment.uuid}",
            payment_method_id="pm_card_visa",
            metadata={"gateway_payment_uuid": str(payment.uuid)},
        )
    )

    outcome = payment_charge(payment=payment, actor="system:reconcile")

    assert outcome.payment.status == "processing"  # left for reconciliation, not failed
    assert PaymentEvent.objects.filter(payment=payment, type="charge_unknown").exists()


@pytest.mark.reliability(
    "Exactly once",
    "A charge the PSP answers with an idempotency conflict (or a 429 on a retry) stays processing for "
    "reconciliation, never failed; a resent charge keeps its return_url; a PSP success for a payment "
    "recorded failed is parked for an operator",
)
def test_a_resent_charge_keeps_its_return_url_so_the_psp_answers_the_first(api, localstripe, fail_once):
    order_id = f"ret-{uuid.uuid4().hex[:12]}"
    body = {
        "order_id": order_id,
        "amount": "12.00",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "return_url": "https://shop.example/back",
    }
    fail_once("payments.services.charges.payment_apply_charge_result")

    first = api.post("/api/v1/payments/process", body, format="json")
    payment = Payment.objects.get(order_id=order_id)
    settled = payment_reconcile(payment=payment, actor="system:reconcile")

    assert first.status_code == 503
    assert payment.return_url == "https://shop.example/back"
    assert settled.status == "succeeded"  # the same parameters under the same key: the first PaymentIntent
    assert len(psp_intents(order_id=order_id)) == 1


@pytest.mark.reliability(
    "Exactly once",
    "A charge the PSP answers with an idempotency conflict (or a 429 on a retry) stays processing for "
    "reconciliation, never failed; a resent charge keeps its return_url; a PSP success for a payment "
    "recorded failed is parked for an operator",
)
def test_a_psp_success_for_a_payment_recorded_failed_is_parked_not_ignored(merchant, localstripe):
    from payments.services.charges import payment_apply_charge_result

    payment = PaymentFactory(client=merchant, status="failed", failure_code="card_declined")
    charged = psp_client.payment_intent_create(
        request=ChargeRequest(
            amount_minor=payment.amount_minor,
            currency="usd",
            idempotency_key=f"late-{uuid.uuid4().hex}",
            payment_method_id="pm_card_visa",
            metadata={"gateway_payment_uuid": str(payment.uuid)},
        )
    )

    after = payment_apply_charge_result(payment=payment, result=charged, actor="webhook:evt_late")

    assert charged.status == "succeeded"
    assert after.status == "failed"  # a final status does not move
    assert "succeeded" in after.review_reason
    assert PaymentEvent.objects.filter(payment=payment, type="review_required").exists()
