"""The payment services (payments.services.payments): status moves, records and
links. The expected moves are written out here from the payment flows, never
read from the transition table they check."""

from dataclasses import replace
from itertools import pairwise

import pytest

from gateway.core.errors import Conflict, InvalidStateTransition
from payments.enums import EventType, PaymentStatus
from payments.models import Payment, PaymentEvent
from payments.providers import ChargeResult
from payments.services.payments import (
    PaymentInput,
    PaymentRowMoved,
    payment_create,
    payment_link_payment_intent,
    payment_park_for_review,
    payment_transition,
)
from payments.tests.factories import PaymentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.fast]

S = PaymentStatus

LIFECYCLES = {
    "charged-at-once": [S.PENDING, S.PROCESSING, S.SUCCEEDED],
    "declined": [S.PENDING, S.PROCESSING, S.FAILED],
    "three-d-secure": [S.PENDING, S.PROCESSING, S.REQUIRES_ACTION, S.PROCESSING, S.SUCCEEDED],
    "one-time-code-first": [S.PENDING, S.REQUIRES_OTP, S.PROCESSING, S.SUCCEEDED],
    "authorized-then-captured": [S.PENDING, S.PROCESSING, S.REQUIRES_CAPTURE, S.SUCCEEDED],
    "refunded-in-parts": [S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED, S.REFUNDED],
    "refunded-at-once": [S.SUCCEEDED, S.REFUNDED],
}
NOT_YET_CAPTURED = [S.PENDING, S.REQUIRES_OTP, S.REQUIRES_ACTION, S.PROCESSING, S.REQUIRES_CAPTURE]
FINAL = [S.FAILED, S.CANCELED, S.REFUNDED]
MONEY_TAKEN = [S.SUCCEEDED, S.PARTIALLY_REFUNDED]
REFUND_STATUSES = [S.PARTIALLY_REFUNDED, S.REFUNDED]
REFUSED = sorted(
    {
        # A final payment stays as it is.
        *((final, new) for final in FINAL for new in S.values),
        # Only money taken can be refunded.
        *((current, new) for current in S.values if current not in MONEY_TAKEN for new in REFUND_STATUSES),
        # Nothing goes back to pending.
        *((current, S.PENDING) for current in S.values),
        # A charge that succeeded is undone only by a refund.
        *((S.SUCCEEDED, new) for new in S.values if new not in REFUND_STATUSES),
        # A payment waiting for its one-time code has not been charged yet.
        (S.REQUIRES_OTP, S.SUCCEEDED),
        (S.REQUIRES_OTP, S.REQUIRES_ACTION),
        (S.REQUIRES_OTP, S.REQUIRES_CAPTURE),
    }
)


def _move(payment, new_status, **kwargs):
    return payment_transition(
        payment=payment, new_status=new_status, event_type=EventType.STATUS_SYNCED, actor="test", **kwargs
    )


def _timeline(payment) -> list[tuple[str, str, str]]:
    return [(e.status_before, e.status_after, e.actor) for e in PaymentEvent.objects.filter(payment=payment)]


@pytest.mark.parametrize("path", LIFECYCLES.values(), ids=LIFECYCLES.keys())
def test_a_payment_moves_along_its_lifecycle_with_one_event_per_step(path):
    payment = PaymentFactory(status=path[0])

    for new_status in path[1:]:
        _move(payment, new_status)

    payment.refresh_from_db()
    assert payment.status == path[-1]
    assert _timeline(payment) == [(before, after, "test") for before, after in pairwise(path)]


@pytest.mark.parametrize("current", NOT_YET_CAPTURED)
def test_a_payment_not_yet_captured_can_be_canceled(current):
    payment = PaymentFactory(status=current)

    _move(payment, S.CANCELED)

    assert Payment.objects.get(pk=payment.pk).status == S.CANCELED
    assert _timeline(payment) == [(current, S.CANCELED, "test")]


@pytest.mark.parametrize(("current", "new"), REFUSED)
def test_a_refused_move_is_409_and_changes_nothing(current, new):
    payment = PaymentFactory(status=current)

    with pytest.raises(InvalidStateTransition) as refused:
        _move(payment, new)

    assert (refused.value.status_code, refused.value.code) == (409, "invalid_state_transition")
    assert refused.value.extra["status"] == current
    assert Payment.objects.get(pk=payment.pk).status == current
    assert _timeline(payment) == []


def test_a_refused_move_says_where_the_payment_could_go():
    authorized = PaymentFactory(status=S.REQUIRES_CAPTURE)
    failed = PaymentFactory(status=S.FAILED)

    with pytest.raises(InvalidStateTransition) as from_authorized:
        _move(authorized, S.REFUNDED)
    with pytest.raises(InvalidStateTransition) as from_failed:
        _move(failed, S.SUCCEEDED)

    assert from_authorized.value.extra == {"status": "requires_capture", "allowed": ["canceled", "succeeded"]}
    assert from_failed.value.extra == {"status": "failed", "allowed": []}


def test_a_compare_and_set_move_loses_to_a_move_made_meanwhile():
    # Two answers about one charge (the PSP's reply and a webhook) read the
    # payment `processing`; the first to write wins and the second changes nothing.
    payment = PaymentFactory(status=S.PROCESSING)
    stale = Payment.objects.get(pk=payment.pk)

    _move(payment, S.SUCCEEDED, expected_status=S.PROCESSING)
    with pytest.raises(PaymentRowMoved):
        _move(stale, S.FAILED, expected_status=S.PROCESSING)

    assert Payment.objects.get(pk=payment.pk).status == S.SUCCEEDED
    assert _timeline(payment) == [(S.PROCESSING, S.SUCCEEDED, "test")]


def test_a_payment_is_created_with_its_created_event_and_a_second_with_its_id_is_409(merchant):
    data = PaymentInput(order_id="order-1", amount_minor=500, currency="eur", public_id="pay_twice")

    created = payment_create(client=merchant, data=data, actor="client:test")
    with pytest.raises(Conflict) as refused:
        payment_create(client=merchant, data=replace(data, order_id="order-2"), actor="client:test")

    assert (refused.value.status_code, refused.value.code, refused.value.param) == (
        409,
        "duplicate_payment_id",
        "payment_id",
    )
    stored = Payment.objects.get(client=merchant, public_id="pay_twice")
    assert (stored.pk, stored.order_id, stored.amount_minor, stored.status) == (
        created.pk,
        "order-1",
        500,
        "pending",
    )
    event = PaymentEvent.objects.get(payment=stored)
    assert (event.type, event.status_after, event.actor) == ("created", "pending", "client:test")
    assert event.data == {"amount_minor": 500, "currency": "eur"}


def test_parking_for_review_keeps_the_status_and_records_each_reason_once():
    payment = PaymentFactory(status=S.PROCESSING)

    payment_park_for_review(payment=payment, reason="two PaymentIntents found", actor="reconcile")
    payment_park_for_review(payment=payment, reason="two PaymentIntents found", actor="reconcile")
    payment_park_for_review(payment=payment, reason="amount differs at the PSP", actor="reconcile")

    payment.refresh_from_db()
    assert (payment.status, payment.review_reason) == (S.PROCESSING, "amount differs at the PSP")
    events = PaymentEvent.objects.filter(payment=payment)
    assert [(e.type, e.status_before, e.status_after, e.data["reason"]) for e in events] == [
        ("review_required", "processing", "processing", "two PaymentIntents found"),
        ("review_required", "processing", "processing", "amount differs at the PSP"),
    ]


def _charge_of(payment, **overrides) -> ChargeResult:
    fields = {
        "status": "succeeded",
        "payment_intent_id": "pi_found_by_metadata",
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "metadata": {"gateway_payment_uuid": str(payment.uuid)},
    }
    return ChargeResult(**{**fields, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {"metadata": {"gateway_payment_uuid": "00000000-0000-4000-8000-000000000000"}},
        {"metadata": {}},
        {"amount_minor": 1998},
        {"currency": "eur"},
    ],
    ids=["another-payments-uuid", "no-uuid", "another-amount", "another-currency"],
)
def test_a_payment_intent_that_is_not_the_payments_is_not_linked(overrides):
    payment = PaymentFactory(status=S.PROCESSING, amount_minor=1999, currency="usd")

    linked = payment_link_payment_intent(payment=payment, result=_charge_of(payment, **overrides))

    assert linked is None
    assert Payment.objects.get(pk=payment.pk).stripe_payment_intent_id == ""


def test_the_payments_own_payment_intent_is_linked_once_and_kept():
    payment = PaymentFactory(status=S.PROCESSING, amount_minor=1999, currency="usd")

    linked = payment_link_payment_intent(payment=payment, result=_charge_of(payment))
    again = payment_link_payment_intent(
        payment=payment, result=_charge_of(payment, payment_intent_id="pi_another_attempt")
    )

    assert linked.stripe_payment_intent_id == "pi_found_by_metadata"
    assert again.stripe_payment_intent_id == "pi_found_by_metadata"
    assert Payment.objects.get(pk=payment.pk).stripe_payment_intent_id == "pi_found_by_metadata"
