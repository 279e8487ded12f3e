"""Stripe's own contract: every request shape stripe_integration.client can
produce is sent to stripe-mock, Stripe's official mock, which validates it
against Stripe's published OpenAPI spec and answers 400 to anything real Stripe
would refuse (an unknown parameter, a value outside an enumeration).

The client runs as it would against real Stripe: LOCALSTRIPE_QUIRKS off, so
`description`, a refund's `reason` and `return_url` are sent as Stripe's own
parameters, not folded into metadata as localstripe needs. stripe-mock is
stateless and answers fixtures, so these tests assert that each request is
accepted, never a business outcome; outcomes are localstripe's tests.
"""

from __future__ import annotations

import urllib.parse

import pytest
import requests

from payments.providers import CardInput, ChargeRequest, ConfirmRequest, RefundRequest
from stripe_integration import client


@pytest.fixture
def sent(monkeypatch, stripe_mock) -> list[tuple[str, str, dict]]:
    """Every request the client sends: (method, path, parameters)."""
    requests_seen: list[tuple[str, str, dict]] = []
    original = client._PooledHTTPClient.request

    def recording(self, method, url, headers, post_data=None, **kwargs):
        parts = urllib.parse.urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        requests_seen.append((method.upper(), parts.path, dict(urllib.parse.parse_qsl(body))))
        return original(self, method, url, headers, post_data, **kwargs)

    monkeypatch.setattr(client._PooledHTTPClient, "request", recording)
    client._stripe_client_for.cache_clear()
    yield requests_seen
    client._stripe_client_for.cache_clear()


METADATA = {"payment_id": "pay_contract", "order_id": "order-1", "gateway_payment_uuid": "5b0c2f4e"}

CHARGES = {
    "payment method, all optional parameters": dict(
        payment_method_id="pm_card_visa",
        description="Order 1 — two books",
        return_url="https://shop.example/3ds-return",
        capture_method="manual",
    ),
    "payment method, automatic capture, no description": dict(payment_method_id="pm_card_visa"),
    "3-D Secure card with return_url": dict(
        payment_method_id="pm_card_threeDSecure2Required", return_url="https://shop.example/back?order=1"
    ),
    "legacy tok_ token": dict(token="tok_visa", description="token payment"),
}


@pytest.mark.reliability(
    "Stripe's contract",
    "Every request shape of the client (each charge form, currency kind, refund reason, capture, cancel, "
    "reads) is accepted by stripe-mock with LOCALSTRIPE_QUIRKS off; what Stripe refuses is refused",
)
@pytest.mark.parametrize("currency,amount_minor", [("usd", 1999), ("jpy", 500), ("kwd", 1250), ("eur", 1)])
@pytest.mark.parametrize("shape", sorted(CHARGES))
def test_every_charge_shape_in_every_currency_kind_is_one_stripe_accepts(sent, shape, currency, amount_minor):
    request = ChargeRequest(
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=f"gw-charge-contract-{shape}-{currency}",
        metadata=METADATA,
        **CHARGES[shape],
    )

    result = client.payment_intent_create(request=request)

    assert result.payment_intent_id.startswith("pi_")
    method, path, params = sent[-1]
    assert (method, path) == ("POST", "/v1/payment_intents")
    assert params["amount"] == str(amount_minor) and params["currency"] == currency
    assert params["confirm"] == "True" or params["confirm"] == "true"
    # Real Stripe's own parameters, never localstripe's metadata workarounds.
    assert not {"metadata[description]", "metadata[return_url]"} & set(params)
    if CHARGES[shape].get("description"):
        assert params["description"] == CHARGES[shape]["description"]
    if CHARGES[shape].get("return_url"):
        assert params["return_url"] == CHARGES[shape]["return_url"]
    if CHARGES[shape].get("capture_method") == "manual":
        assert params["capture_method"] == "manual"
    if CHARGES[shape].get("token"):
        assert sent[-2][1] == "/v1/payment_methods" and sent[-2][2]["card[token]"] == "tok_visa"
        assert params["payment_method"].startswith("pm_")


@pytest.mark.reliability(
    "Stripe's contract",
    "Every request shape of the client (each charge form, currency kind, refund reason, capture, cancel, "
    "reads) is accepted by stripe-mock with LOCALSTRIPE_QUIRKS off; what Stripe refuses is refused",
)
def test_a_raw_card_is_tokenized_with_a_request_stripe_accepts(sent):
    card = CardInput(number="4242424242424242", exp_month=12, exp_year=2034, cvc="123", name="Jane Doe")

    result = client.payment_method_create(card=card)

    assert result.payment_method_id.startswith("pm_")
    assert sent[-1][1] == "/v1/payment_methods"
    assert sent[-1][2]["billing_details[name]"] == "Jane Doe"


@pytest.mark.reliability(
    "Stripe's contract",
    "Every request shape of the client (each charge form, currency kind, refund reason, capture, cancel, "
    "reads) is accepted by stripe-mock with LOCALSTRIPE_QUIRKS off; what Stripe refuses is refused",
)
@pytest.mark.parametrize("reason", ["", "duplicate", "fraudulent", "requested_by_customer"])
def test_refunds_with_each_reason_are_ones_stripe_accepts(sent, reason):
    request = RefundRequest(
        payment_intent_id="pi_contract",
        amount_minor=500,
        idempotency_key=f"gw-refund-contract-{reason}",
        reason=reason,
        metadata={"payment_id": "pay_contract", "refund_id": "re_contract"},
    )

    result = client.refund_create(request=request)

    assert result.refund_id.startswith("re_")
    params = sent[-1][2]
    assert params.get("reason", "") == reason
    assert "metadata[reason]" not in params


@pytest.mark.reliability(
    "Stripe's contract",
    "Every request shape of the client (each charge form, currency kind, refund reason, capture, cancel, "
    "reads) is accepted by stripe-mock with LOCALSTRIPE_QUIRKS off; what Stripe refuses is refused",
)
def test_capture_cancel_and_every_read_are_requests_stripe_accepts(sent):
    client.payment_intent_capture(
        payment_intent_id="pi_contract", amount_minor=700, idempotency_key="gw-capture-c"
    )
    client.payment_intent_cancel(payment_intent_id="pi_contract", idempotency_key="gw-cancel-c")
    client.payment_intent_retrieve(payment_intent_id="pi_contract")
    client.payment_intent_search(metadata={"gateway_payment_uuid": "5b0c2f"})
    client.refund_retrieve(refund_id="re_contract")
    client.refund_list_for_payment_intent(payment_intent_id="pi_contract")
    dispute = client.dispute_retrieve(dispute_id="dp_contract")
    for kind, object_id in (("payment_intent", "pi_c"), ("charge", "ch_c"), ("refund", "re_c")):
        client.stripe_object_for_sync(kind=kind, object_id=object_id)
    assert client.psp_ping().ok

    paths = [path for _, path, _ in sent]
    assert "/v1/payment_intents/pi_contract/capture" in paths
    assert "/v1/payment_intents/pi_contract/cancel" in paths
    assert "/v1/payment_intents/search" in paths
    assert "/v1/disputes/dp_contract" in paths and dispute.charge_id.startswith("ch_")
    assert sent[paths.index("/v1/payment_intents/pi_contract/capture")][2] == {"amount_to_capture": "700"}


def test_client_side_confirmation_requests_are_ones_stripe_accepts(sent):
    """`confirm: false`: a PaymentIntent with no payment method and no confirm
    (return_url only goes with confirm=true), then the hosted page's confirm
    with the payer's token (made a PaymentMethod first) or PaymentMethod."""
    created = client.payment_intent_create(
        request=ChargeRequest(
            amount_minor=1999,
            currency="usd",
            idempotency_key="gw-charge-contract-unconfirmed",
            metadata=METADATA,
            return_url="https://shop.example/back",
            confirm=False,
        )
    )
    assert created.payment_intent_id.startswith("pi_")
    params = sent[-1][2]
    assert not {"confirm", "payment_method", "return_url"} & set(params)

    for source in ({"token": "tok_visa"}, {"payment_method_id": "pm_card_visa"}):
        client.payment_intent_confirm(
            request=ConfirmRequest(
                payment_intent_id="pi_contract",
                idempotency_key=f"gw-confirm-contract-{source}",
                return_url="https://shop.example/back",
                **source,
            )
        )
        method, path, params = sent[-1]
        assert (method, path) == ("POST", "/v1/payment_intents/pi_contract/confirm")
        assert params["payment_method"].startswith("pm_") and params["return_url"]
        assert params["expand[0]"] == "payment_method"


@pytest.mark.reliability(
    "Stripe's contract",
    "Every request shape of the client (each charge form, currency kind, refund reason, capture, cancel, "
    "reads) is accepted by stripe-mock with LOCALSTRIPE_QUIRKS off; what Stripe refuses is refused",
)
def test_stripe_mock_refuses_what_stripe_would_refuse(stripe_mock):
    """The judge works: the request shape this client sent before the contract
    test (a tok_ token as payment_method_data) and an unknown parameter are refused."""
    auth = ("sk_test_123", "")
    old_token_shape = requests.post(
        f"{stripe_mock}/v1/payment_intents",
        data={
            "amount": 100,
            "currency": "usd",
            "confirm": "true",
            "payment_method_data[type]": "card",
            "payment_method_data[card][token]": "tok_visa",
        },
        auth=auth,
        timeout=5,
    )
    unknown = requests.post(
        f"{stripe_mock}/v1/payment_intents",
        data={"amount": 100, "currency": "usd", "not_a_stripe_parameter": "x"},
        auth=auth,
        timeout=5,
    )

    assert old_token_shape.status_code == 400
    assert "payment_method_data" in old_token_shape.json()["error"]["message"]
    assert unknown.status_code == 400
    assert "additional properties are not allowed" in unknown.json()["error"]["message"]


def test_with_localstripe_quirks_on_the_same_request_folds_what_localstripe_refuses_into_metadata(
    sent, settings
):
    settings.LOCALSTRIPE_QUIRKS = True
    request = ChargeRequest(
        amount_minor=100,
        currency="usd",
        idempotency_key="gw-charge-quirks",
        payment_method_id="pm_card_visa",
        description="d",
        return_url="https://shop.example/r",
        metadata=METADATA,
    )

    client.payment_intent_create(request=request)

    params = sent[-1][2]
    assert "description" not in params and "return_url" not in params
    assert (
        params["metadata[description]"] == "d" and params["metadata[return_url]"] == "https://shop.example/r"
    )
