"""Exactly once under faults: one step of a payment or a refund fails once (the
`fail_once` fixture makes that function raise OperationalError, as a database
failing mid-request would), the client retries with the same Idempotency-Key,
and in the end there is exactly one PSP object and one payment (or refund) in
its final status. Real MariaDB, and localstripe with Stripe's idempotency keys
(our launcher). docs/RELIABILITY.md has the matrix, one row per fault point.
"""

from __future__ import annotations

import uuid

import pytest

from payments.models import IdempotencyKey, Payment, PaymentEvent, Refund
from payments.tests.fixtures import psp_intents, psp_refunds

# (id, fault point, the function that fails, which of its calls). Each row is
# a row of docs/RELIABILITY.md (_fault_points, scripts/reliability_report.py).
PAYMENT_FAULT_POINTS = [
    ("after-claim", "after the idempotency claim", "payments.views.payment_process", 1),
    (
        "after-psp-before-save",
        "after the PSP call returns, before its result is saved",
        "payments.services.charges.payment_apply_charge_result",
        1,
    ),
    ("after-save-before-response", "after the save, before the response", "payments.views.payment_body", 1),
    ("storing-the-answer", "while the key's answer is stored", "payments.http.idempotency_complete", 1),
    (
        "outbox-created",
        "during the outbox write of payment.created",
        "payments.receivers.outbox_record_timeline_event",
        1,
    ),
    (
        "outbox-settled",
        "during the outbox write of payment.succeeded",
        "payments.receivers.outbox_record_timeline_event",
        2,
    ),
]

REFUND_FAULT_POINTS = [
    ("after-claim", "after the idempotency claim", "payments.views.payment_refund", 1),
    (
        "after-psp-before-save",
        "after the PSP call returns, before its result is saved",
        "payments.services.refunds.refund_settle",
        1,
    ),
    (
        "after-save-before-response",
        "after the save, before the response",
        "payments.http.payment_with_refunds",
        1,
    ),
    ("storing-the-answer", "while the key's answer is stored", "payments.http.idempotency_complete", 1),
    (
        "outbox-created",
        "during the outbox write of refund.created",
        "payments.receivers.outbox_record_timeline_event",
        1,
    ),
    (
        "outbox-settled",
        "during the outbox write of refund.succeeded",
        "payments.receivers.outbox_record_timeline_event",
        2,
    ),
]


def _fault_points(kind: str, table: list[tuple[str, str, str, int]]) -> list:
    """The table's rows as parameters, each claiming its own row of docs/RELIABILITY.md."""
    params = []
    for row_id, point, target, on_call in table:
        call = "" if on_call == 1 else f" (call {on_call})"
        case = (
            f"A {kind} fails once {point} (`{target}`{call} raises OperationalError): the client gets "
            f"503, retries with the same Idempotency-Key, and gets 201; one {kind} and one PSP object, "
            "in the final status"
        )
        marks = pytest.mark.reliability("Exactly once", case)
        params.append(pytest.param(point, target, on_call, id=row_id, marks=marks))
    return params


def _process(api, order_id: str, key: str):
    return api.post(
        "/api/v1/payments/process",
        {"order_id": order_id, "amount": "12.34", "currency": "usd", "payment_method": "pm_card_visa"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.parametrize("point,target,on_call", _fault_points("payment", PAYMENT_FAULT_POINTS))
@pytest.mark.django_db(transaction=True)
def test_a_payment_retried_after_a_fault_is_charged_once(api, localstripe, fail_once, point, target, on_call):
    order_id, key = f"eo-{uuid.uuid4().hex[:12]}", f"key-{uuid.uuid4().hex}"
    fault = fail_once(target, on_call=on_call)

    first = _process(api, order_id, key)
    retry = _process(api, order_id, key)

    assert fault["fired"], f"the fault at {point!r} was never reached"
    assert first.status_code == 503 and first.json()["error"]["code"] == "database_unavailable"
    assert retry.status_code == 201, retry.json()
    assert retry.json()["status"] == "succeeded"
    payments = list(Payment.objects.filter(order_id=order_id))
    assert len(payments) == 1 and payments[0].status == "succeeded"
    assert payments[0].public_id == retry.json()["payment_id"]
    intents = psp_intents(order_id=order_id)
    assert [pi.id for pi in intents] == [payments[0].stripe_payment_intent_id]  # one charge at the PSP
    assert PaymentEvent.objects.filter(payment=payments[0], type="charge_succeeded").count() == 1
    assert IdempotencyKey.objects.get(key=key).state == IdempotencyKey.State.COMPLETED
    replay = _process(api, order_id, key)
    assert replay["Idempotent-Replayed"] == "true" and replay.json()["payment_id"] == payments[0].public_id


@pytest.mark.parametrize("point,target,on_call", _fault_points("refund", REFUND_FAULT_POINTS))
@pytest.mark.django_db(transaction=True)
def test_a_refund_retried_after_a_fault_is_made_once(api, localstripe, fail_once, point, target, on_call):
    order_id, key = f"eo-{uuid.uuid4().hex[:12]}", f"key-{uuid.uuid4().hex}"
    payment_id = _process(api, order_id, f"pay-{key}").json()["payment_id"]
    path = f"/api/v1/payments/{payment_id}/refund"
    fault = fail_once(target, on_call=on_call)

    first = api.post(path, {"amount": "2.00", "reason": "duplicate"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    retry = api.post(path, {"amount": "2.00", "reason": "duplicate"}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert fault["fired"], f"the fault at {point!r} was never reached"
    assert first.status_code == 503 and first.json()["error"]["code"] == "database_unavailable"
    assert retry.status_code == 201, retry.json()
    assert retry.json()["status"] == "succeeded"
    payment = Payment.objects.get(public_id=payment_id)
    refunds = list(Refund.objects.filter(payment=payment))
    assert len(refunds) == 1 and refunds[0].status == "succeeded"
    assert (payment.status, payment.refunded_minor) == ("partially_refunded", 200)
    at_psp = psp_refunds(payment.stripe_payment_intent_id)
    assert [r.refund_id for r in at_psp] == [refunds[0].stripe_refund_id]  # one refund at the PSP
    assert PaymentEvent.objects.filter(payment=payment, type="refund_succeeded").count() == 1


@pytest.mark.reliability(
    "Exactly once",
    "A refund failing before its PSP call, never retried by the client, is sent by reconciliation",
)
@pytest.mark.django_db(transaction=True)
def test_a_refund_whose_database_fails_before_the_psp_call_and_then_never_retried_is_reconciled(
    api, localstripe, fail_once
):
    """The client gives up after the 503: the pending refund is found and sent by
    reconciliation, not left reserved for ever."""
    from payments.services.reconcile import refund_reconcile

    payment_id = _process(api, f"eo-{uuid.uuid4().hex[:12]}", f"k-{uuid.uuid4().hex}").json()["payment_id"]
    fail_once("payments.services.refunds.refund_send")

    first = api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "1.00"}, format="json")
    refund = Refund.objects.get(payment__public_id=payment_id)
    settled = refund_reconcile(refund=refund, actor="system:reconcile")

    assert first.status_code == 503
    assert settled.status == "succeeded"
    payment = Payment.objects.get(public_id=payment_id)
    assert [r.refund_id for r in psp_refunds(payment.stripe_payment_intent_id)] == [settled.stripe_refund_id]
