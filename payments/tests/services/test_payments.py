import itertools

import pytest

from gateway.errors import Conflict
from payments.enums import ALLOWED_TRANSITIONS, FINAL_STATUSES, PaymentStatus
from payments.models import Payment, PaymentEvent
from payments.services.payments import payment_transition

pytestmark = pytest.mark.django_db

ALL_MOVES = list(itertools.product(PaymentStatus.values, PaymentStatus.values))
LEGAL = [(a, b) for a, b in ALL_MOVES if b in ALLOWED_TRANSITIONS.get(a, ())]
ILLEGAL = [(a, b) for a, b in ALL_MOVES if b not in ALLOWED_TRANSITIONS.get(a, ())]


def _payment(merchant, status):
    return Payment.objects.create(
        public_id=f"pay_{status}",
        client=merchant,
        order_id="o",
        amount_minor=100,
        currency="usd",
        status=status,
    )


def test_the_table_has_the_expected_shape():
    assert FINAL_STATUSES == {PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.REFUNDED}
    assert (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED) in ILLEGAL
    assert (PaymentStatus.REQUIRES_OTP, PaymentStatus.SUCCEEDED) in ILLEGAL  # the charge comes first
    assert len(LEGAL) + len(ILLEGAL) == len(PaymentStatus.values) ** 2


@pytest.mark.parametrize(("current", "new"), LEGAL)
def test_legal_moves_change_the_status_and_record_an_event(merchant, current, new):
    payment = _payment(merchant, current)

    payment_transition(payment=payment, new_status=new, event_type="status_synced", actor="test")

    payment.refresh_from_db()
    assert payment.status == new
    event = PaymentEvent.objects.get(payment=payment)
    assert (event.status_before, event.status_after, event.actor) == (current, new, "test")


@pytest.mark.parametrize(("current", "new"), ILLEGAL)
def test_illegal_moves_are_409_and_change_nothing(merchant, current, new):
    payment = _payment(merchant, current)

    with pytest.raises(Conflict) as caught:
        payment_transition(payment=payment, new_status=new, event_type="status_synced", actor="test")

    assert caught.value.status_code == 409
    assert caught.value.code == "invalid_state_transition"
    payment.refresh_from_db()
    assert payment.status == current
    assert not PaymentEvent.objects.filter(payment=payment).exists()
