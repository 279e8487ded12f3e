"""POST /api/v1/stripe/webhook: signatures, storage, replays, order, real deliveries."""

import json
import time
import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from conftest import stripe_signature
from payments.models import Payment, PaymentEvent, Refund
from stripe_integration.client import localstripe_register_webhook, stripe_client
from stripe_integration.models import StripeWebhookEvent

WEBHOOK = "/api/v1/stripe/webhook"


def _event(event_type: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": event_type,
        "livemode": False,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def _deliver(event: dict, secret: str | None = None, signature: str | None = None):
    payload = json.dumps(event)
    header = (
        signature
        if signature is not None
        else stripe_signature(payload, secret or settings.STRIPE_WEBHOOK_SECRET)
    )
    return APIClient().post(WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


@pytest.fixture
def processing_payment(pay):
    """A payment that succeeded at localstripe but that we still think is processing,
    as after a lost answer."""
    payment_id = pay().json()["payment_id"]
    Payment.objects.filter(public_id=payment_id).update(status="processing", captured_minor=0)
    return Payment.objects.get(public_id=payment_id)


@pytest.mark.reliability(
    "Security",
    "Webhook: forged, other-secret or expired (> 300 s) signature: 400, nothing changes",
)
@pytest.mark.reliability(
    "Security hardening",
    "Charge and refund webhooks act on the PSP's objects, re-fetched: a forged refund event changes nothing; "
    "unsigned deliveries are not stored",
)
@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["", "t=1,v1=deadbeef", None])
def test_a_missing_or_bad_signature_is_400_and_changes_nothing(processing_payment, signature):
    event = _event("payment_intent.succeeded", {"id": processing_payment.stripe_payment_intent_id})
    header = signature if signature is not None else stripe_signature(json.dumps(event), "whsec_wrong")

    stored_before = StripeWebhookEvent.objects.count()

    response = _deliver(event, signature=header)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    processing_payment.refresh_from_db()
    assert processing_payment.status == "processing"
    # Only what passes the signature check is stored. Counted, not "the table is
    # empty": one fresh-clone run saw a committed delivery from elsewhere here.
    assert StripeWebhookEvent.objects.count() == stored_before
    assert not StripeWebhookEvent.objects.filter(event_id=event["id"]).exists()


@pytest.mark.reliability(
    "Security",
    "Webhook: forged, other-secret or expired (> 300 s) signature: 400, nothing changes",
)
@pytest.mark.django_db
def test_an_old_signature_is_rejected(processing_payment):
    event = _event("payment_intent.succeeded", {"id": processing_payment.stripe_payment_intent_id})
    stale = stripe_signature(json.dumps(event), settings.STRIPE_WEBHOOK_SECRET, int(time.time()) - 301)

    assert _deliver(event, signature=stale).status_code == 400


@pytest.mark.django_db
def test_a_signed_event_settles_the_payment_and_a_replay_is_a_no_op(processing_payment):
    event = _event("payment_intent.succeeded", {"id": processing_payment.stripe_payment_intent_id})

    first = _deliver(event)
    events_after_first = PaymentEvent.objects.filter(payment=processing_payment).count()
    second = _deliver(event)

    assert first.status_code == second.status_code == 200
    assert first.json() == {"received": True, "event_id": event["id"], "processed": True}
    processing_payment.refresh_from_db()
    assert processing_payment.status == "succeeded"
    assert processing_payment.captured_minor == 1999
    assert PaymentEvent.objects.filter(payment=processing_payment).count() == events_after_first
    assert StripeWebhookEvent.objects.filter(event_id=event["id"]).count() == 1
    last = PaymentEvent.objects.filter(payment=processing_payment).last()
    assert (last.type, last.actor) == ("status_synced", f"webhook:{event['id']}")


@pytest.mark.django_db
def test_an_old_event_delivered_late_does_not_move_the_payment_back(pay):
    payment = Payment.objects.get(public_id=pay().json()["payment_id"])

    response = _deliver(
        _event(
            "payment_intent.requires_action",
            {"id": payment.stripe_payment_intent_id, "status": "requires_action"},
        )
    )

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == "succeeded"


@pytest.mark.django_db
def test_charge_refunded_settles_our_refund_and_records_one_made_at_stripe(api, pay):
    payment_id = pay(amount="20.00").json()["payment_id"]
    payment = Payment.objects.get(public_id=payment_id)
    ours = api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json").json()
    # A refund made in the Stripe dashboard, outside the gateway.
    external = stripe_client().v1.refunds.create(
        params={"payment_intent": payment.stripe_payment_intent_id, "amount": 300}
    )
    charge = {
        "id": payment.stripe_charge_id,
        "object": "charge",
        "payment_intent": payment.stripe_payment_intent_id,
        "refunds": {
            "data": [
                {"id": ours["stripe_refund_id"], "amount": 500, "status": "succeeded"},
                {"id": external.id, "amount": 300, "status": "succeeded"},
            ]
        },
    }

    response = _deliver(_event("charge.refunded", charge))

    assert response.status_code == 200 and response.json()["processed"]
    payment.refresh_from_db()
    assert payment.refunded_minor == 800
    assert payment.status == "partially_refunded"
    assert Refund.objects.filter(payment=payment).count() == 2
    assert Refund.objects.get(stripe_refund_id=external.id).reason_text == "made at the PSP"


@pytest.mark.django_db
def test_a_dispute_is_recorded_as_the_psp_has_it_without_changing_the_status(fake_pay, fake_psp):
    payment = Payment.objects.get(public_id=fake_pay().json()["payment_id"])
    dispute_id = fake_psp.dispute_open(
        payment_intent_id=payment.stripe_payment_intent_id, reason="fraudulent"
    )

    # The event's own fields are not believed: only its dispute id is read.
    _deliver(
        _event("charge.dispute.created", {"id": dispute_id, "object": "dispute", "amount": 1, "reason": "x"})
    )

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    dispute = PaymentEvent.objects.get(payment=payment, type="dispute_created")
    assert dispute.data == {
        "dispute": dispute_id,
        "amount_minor": payment.amount_minor,
        "reason": "fraudulent",
    }


@pytest.mark.reliability(
    "Security hardening",
    "Card data and secrets at rest: no Idempotency-Key fingerprint for a raw card refused before any work (a "
    "migration forgets earlier ones); client_secret kept nowhere (next_action, stored answers, webhooks); "
    "the cache holds JSON, never pickle; disputes re-fetched and checked against the payment's charge",
)
@pytest.mark.django_db
def test_a_dispute_event_that_names_another_payment_is_not_recorded_on_it(fake_pay, fake_psp):
    ours = Payment.objects.get(public_id=fake_pay(order_id="ours").json()["payment_id"])
    other = Payment.objects.get(public_id=fake_pay(order_id="other").json()["payment_id"])
    dispute_id = fake_psp.dispute_open(payment_intent_id=other.stripe_payment_intent_id)
    forged = {"id": dispute_id, "object": "dispute", "payment_intent": ours.stripe_payment_intent_id}
    unknown = {"id": "dp_unknown", "object": "dispute", "payment_intent": ours.stripe_payment_intent_id}

    _deliver(_event("charge.dispute.created", forged))
    _deliver(_event("charge.dispute.created", unknown))

    assert not PaymentEvent.objects.filter(payment=ours, type="dispute_created").exists()
    assert PaymentEvent.objects.get(payment=other, type="dispute_created").data["dispute"] == dispute_id


@pytest.mark.django_db
def test_a_failed_event_is_kept_and_reprocessed_by_the_command(processing_payment):
    real_intent = processing_payment.stripe_payment_intent_id
    Payment.objects.filter(pk=processing_payment.pk).update(stripe_payment_intent_id="pi_missing")
    event = _event("payment_intent.succeeded", {"id": "pi_missing"})

    response = _deliver(event)

    assert response.status_code == 200
    stored = StripeWebhookEvent.objects.get(event_id=event["id"])
    assert stored.processed is False
    assert stored.error  # why it failed, for the operator
    Payment.objects.filter(pk=processing_payment.pk).update(stripe_payment_intent_id=real_intent)
    out = StringIO()
    call_command("stripe_webhooks_reprocess", "--failed", stdout=out)
    stored.refresh_from_db()
    assert stored.processed is True and stored.attempts == 2
    assert "1 processed, 0 still failing" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_real_signed_delivery_from_localstripe_changes_our_payment(live_server, api, localstripe):
    from payments.tests.fixtures import card, payment_body

    localstripe_register_webhook(
        webhook_id="we_pytest", url=f"{live_server.url}{WEBHOOK}", secret=settings.STRIPE_WEBHOOK_SECRET
    )
    body = api.post(
        "/api/v1/payments/process", payment_body(card=card("4000002500003155")), format="json"
    ).json()
    assert body["status"] == "requires_action"

    # The customer completes 3-D Secure; nobody calls /confirm: the webhook must settle it.
    import requests

    requests.post(
        f"{localstripe}/v1/payment_intents/{body['transaction_id']}/_authenticate",
        data={"client_secret": body["client_secret"], "success": "true"},
        auth=(settings.STRIPE_SECRET_KEY, ""),
        timeout=10,
    ).raise_for_status()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if Payment.objects.get(public_id=body["payment_id"]).status == "succeeded":
            break
        time.sleep(0.2)

    assert Payment.objects.get(public_id=body["payment_id"]).status == "succeeded"
    delivered = StripeWebhookEvent.objects.filter(type="payment_intent.succeeded")
    assert delivered.filter(processed=True).exists()


@pytest.mark.reliability(
    "Security hardening",
    "Charge and refund webhooks act on the PSP's objects, re-fetched: a forged refund event changes nothing; "
    "unsigned deliveries are not stored",
)
@pytest.mark.django_db
def test_a_forged_refund_event_cannot_mark_a_payment_refunded(pay):
    """Signed with the right secret (as with a leaked one), but about refunds the
    PSP does not have: the handlers act on the PSP's objects, not the event's."""
    payment = Payment.objects.get(public_id=pay(amount="20.00").json()["payment_id"])
    forged_refund = {
        "id": "re_forged000000000000",
        "object": "refund",
        "amount": 2000,
        "status": "succeeded",
        "payment_intent": payment.stripe_payment_intent_id,
    }
    forged_charge = {
        "id": payment.stripe_charge_id,
        "object": "charge",
        "payment_intent": payment.stripe_payment_intent_id,
        "refunds": {"data": [forged_refund]},
    }

    as_refund = _deliver(_event("refund.updated", forged_refund))
    as_charge = _deliver(_event("charge.refunded", forged_charge))

    assert as_refund.status_code == as_charge.status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_minor) == ("succeeded", 0)
    assert not Refund.objects.filter(payment=payment).exists()
    notes = set(StripeWebhookEvent.objects.values_list("error", flat=True))
    assert "ignored: the PSP has no such refund" in notes and "no refunds at the PSP" in notes


@pytest.mark.reliability(
    "Security hardening",
    "Charge and refund webhooks act on the PSP's objects, re-fetched: a forged refund event changes nothing; "
    "unsigned deliveries are not stored",
)
@pytest.mark.django_db
def test_a_refund_event_naming_another_payment_intent_is_not_applied_to_ours(api, pay):
    mine = Payment.objects.get(public_id=pay(amount="20.00").json()["payment_id"])
    other = Payment.objects.get(public_id=pay(amount="20.00").json()["payment_id"])
    theirs = stripe_client().v1.refunds.create(
        params={"payment_intent": other.stripe_payment_intent_id, "amount": 700}
    )

    response = _deliver(
        _event(
            "refund.updated",
            {
                "id": theirs.id,
                "amount": 2000,
                "status": "succeeded",
                "payment_intent": mine.stripe_payment_intent_id,
            },
        )
    )

    assert response.status_code == 200
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.refunded_minor == 0  # the event's payment_intent is not believed
    assert other.refunded_minor == 700  # the PSP's refund, recorded on its own payment


@pytest.mark.reliability(
    "Security hardening",
    "A forged payment_intent event cannot link a PaymentIntent that is not the payment's (metadata, amount "
    "and currency from the PSP's copy)",
)
@pytest.mark.django_db
def test_a_forged_event_cannot_link_another_payment_intent_to_a_payment(merchant, localstripe):
    """Signed with the right secret, naming a real PaymentIntent that is no
    payment's, and our waiting payment's uuid: the PSP's copy of that
    PaymentIntent (its metadata and amount) says it is not ours."""
    from payments.tests.factories import PaymentFactory

    unrelated = stripe_client().v1.payment_intents.create(
        params={"amount": 300, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa"}
    )
    waiting = PaymentFactory(client=merchant, amount_minor=250_000, status="processing")

    response = _deliver(
        _event(
            "payment_intent.succeeded",
            {
                "id": unrelated.id,
                "status": "succeeded",
                "metadata": {"gateway_payment_uuid": str(waiting.uuid)},
            },
        )
    )

    assert response.status_code == 200
    waiting.refresh_from_db()
    assert (waiting.status, waiting.stripe_payment_intent_id) == ("processing", "")
    assert StripeWebhookEvent.objects.get(event_id=response.json()["event_id"]).error.startswith("ignored:")
