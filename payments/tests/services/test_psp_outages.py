"""A PSP that hangs or refuses: real sockets, not patched return values."""

import pytest

from payments.models import Payment
from payments.services.reconcile import payment_reconcile

pytestmark = pytest.mark.django_db


@pytest.mark.reliability(
    "Faults",
    "PSP slow (timeout) or refused: processing or 503, never wrongly settled; reconciliation settles",
)
@pytest.mark.reliability(
    "Exactly once",
    "Reconciliation never sends the charge of a request that got no answer (its client may have sent a "
    "second payment): the lost answer is found by a search; a charge owed under a key is sent again with it",
)
def test_a_psp_timeout_leaves_the_payment_processing_and_reconciliation_settles_it(
    pay, settings, silent_port, localstripe
):
    real_base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{silent_port}"
    settings.STRIPE_TIMEOUT_SECONDS = 1
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    # Under an Idempotency-Key, the 202 "processing" is a charge the gateway owes:
    # reconciliation sends it again with the same PSP key (without a key, the
    # client may have given up and sent a second payment: it is only searched for).
    response = pay(
        card=None,
        payment_method="pm_card_visa",
        payment_id="pay_timeout",
        headers={"HTTP_IDEMPOTENCY_KEY": "timeout-1"},
    )

    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    payment = Payment.objects.get(public_id="pay_timeout")
    assert payment.status == "processing"
    assert list(payment.events.values_list("type", flat=True)) == ["created", "charge_unknown"]

    settings.STRIPE_API_BASE = real_base  # the PSP is back
    payment = payment_reconcile(payment=payment, actor="system:reconcile")

    assert payment.status == "succeeded"
    assert payment.stripe_payment_intent_id.startswith("pi_")
    assert payment.captured_minor == 1999


@pytest.mark.reliability(
    "Faults",
    "PSP slow (timeout) or refused: processing or 503, never wrongly settled; reconciliation settles",
)
def test_a_refused_connection_on_charge_is_also_an_unknown_outcome(pay, settings, closed_port):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    response = pay(card=None, payment_method="pm_card_visa")

    # stripe-python cannot tell "refused" from "sent, then lost" by class alone,
    # and matching message text is not allowed: so the safe reading is "unknown".
    assert response.status_code == 202
    assert Payment.objects.get().status == "processing"


@pytest.mark.reliability(
    "Faults",
    "PSP slow (timeout) or refused: processing or 503, never wrongly settled; reconciliation settles",
)
def test_an_unreachable_psp_during_tokenization_is_503_and_the_client_can_retry(
    pay, settings, closed_port, localstripe
):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    response = pay()

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "psp_unavailable"
    assert response["Retry-After"] == "5"
    assert not Payment.objects.exists()
    settings.STRIPE_API_BASE = localstripe
    assert pay().status_code == 201


def test_a_refund_the_psp_does_not_answer_is_202_pending_and_reconciled_later(
    api, pay, settings, closed_port, localstripe
):
    """The contract for an unknown outcome, for refunds as for charges: 202, with
    the refund `pending` and its amount reserved; never a failure, never a 5xx
    that would invite a second refund under a new key."""
    from payments.services.reconcile import refund_reconcile

    payment_id = pay(card=None, payment_method="pm_card_visa").json()["payment_id"]
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    response = api.post(
        f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["payment"]["refundable_minor"] == 1999 - 500  # reserved
    settings.STRIPE_API_BASE = localstripe
    refund = Payment.objects.get(public_id=payment_id).refunds.get()
    assert refund_reconcile(refund=refund, actor="system:reconcile").status == "succeeded"
