"""The one package that talks to Stripe (or its stand-ins): calls here,
conversions in convert.py, the meaning of each Stripe error in errors.py.

Nothing else in the project imports `stripe`. The key and the API base are
read from settings at call time, never at import, so tests and operators can
change them without restarting. Stripe objects never leave this package: callers
get dataclasses, and Stripe errors become errors of the gateway's one family.
"""

from __future__ import annotations

from dataclasses import replace

import stripe

from gateway.core.errors import InvalidRequest, ServiceUnavailable
from payments.providers import (
    CardInput,
    CardSummary,
    ChargeRequest,
    ChargeResult,
    ConfirmRequest,
    DisputeResult,
    PaymentMethodResult,
    RefundRequest,
    RefundResult,
)
from stripe_integration.client.convert import (
    as_dict,
    card_summary,
    charge_result,
    dispute_result,
    refund_result,
)
from stripe_integration.client.errors import stripe_errors_translated
from stripe_integration.client.transport import (  # noqa: F401  the package's public surface
    PspHealth,
    _call,
    _path_id,
    _PooledHTTPClient,
    _stripe_client_for,
    localstripe_register_webhook,
    psp_ping,
    stripe_client,
    stripe_console_logging_off,
    using_localstripe,
)

# --- calls ----------------------------------------------------------------------------


def payment_method_create(*, card: CardInput) -> PaymentMethodResult:
    """Tokenizes a raw card at the PSP. The card goes to the PSP and nowhere else."""
    params = {
        "type": "card",
        "card": {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        },
    }
    if card.name:
        params["billing_details"] = {"name": card.name}
    with stripe_errors_translated(outcome_may_be_unknown=False):
        pm = _call("post", "/v1/payment_methods", params)
    return PaymentMethodResult(payment_method_id=pm["id"], card=card_summary(pm.get("card")) or CardSummary())


def _payment_method_from_token(request: ChargeRequest | ConfirmRequest) -> str:
    """A legacy tok_ token becomes a PaymentMethod first (`card[token]`), under a
    key derived from the charge's, so a retried charge reuses it. Stripe's spec
    refuses `payment_method_data[type]=card` on a PaymentIntent (the stripe-mock
    contract test found it); localstripe supports neither, so tok_ is tested
    against stripe-mock only."""
    with stripe_errors_translated(outcome_may_be_unknown=True):
        pm = _call(
            "post",
            "/v1/payment_methods",
            {"type": "card", "card": {"token": request.token}},
            idempotency_key=f"{request.idempotency_key}-pm",
        )
    return pm["id"]


def payment_intent_create(*, request: ChargeRequest) -> ChargeResult:
    """Creates and confirms a PaymentIntent (confirm=True) with our idempotency
    key; or, with request.confirm False, creates it for the payer to confirm
    (no payment method yet: requires_payment_method, with its client secret)."""
    params: dict = {
        "amount": request.amount_minor,
        "currency": request.currency,
        "payment_method_types": ["card"],
        "metadata": request.metadata,
    }
    if request.confirm:
        params["confirm"] = True
    localstripe_metadata = {}
    if request.description and using_localstripe():
        # localstripe rejects `description` ("Unexpected description"); keep it in metadata there.
        localstripe_metadata["description"] = request.description[:500]
    elif request.description:
        params["description"] = request.description
    if request.payment_method_id:
        params["payment_method"] = request.payment_method_id
    elif request.token:
        params["payment_method"] = _payment_method_from_token(request)
    if request.return_url and (using_localstripe() or not request.confirm):
        # localstripe rejects `return_url` ("Unexpected return_url"); Stripe takes
        # it with confirm=true only (the stripe-mock contract test checks it).
        localstripe_metadata["return_url"] = request.return_url[:500]
    elif request.return_url:
        params["return_url"] = request.return_url
    if localstripe_metadata:
        params["metadata"] = {**request.metadata, **localstripe_metadata}
    if request.capture_method == "manual":
        params["capture_method"] = "manual"
    with stripe_errors_translated(outcome_may_be_unknown=True):
        pi = _call("post", "/v1/payment_intents", params, idempotency_key=request.idempotency_key)
    return charge_result(pi)


def payment_intent_confirm(*, request: ConfirmRequest) -> ChargeResult:
    """Confirms an unconfirmed PaymentIntent with the card the payer's browser
    gave the PSP (a tok_ or pm_). With LOCALSTRIPE_QUIRKS, localstripe's way:
    it confirms only without `payment_method` ("Not implemented") and takes no
    tok_ on a PaymentIntent, so the token's card (card_…) is set on the
    PaymentIntent first, then it is confirmed."""
    path = f"/v1/payment_intents/{_path_id(request.payment_intent_id)}"
    with stripe_errors_translated(outcome_may_be_unknown=True):
        if using_localstripe():
            method, card = request.payment_method_id, None
            if request.token:
                card = _call("get", f"/v1/tokens/{_path_id(request.token)}").get("card") or {}
                method = card.get("id") or ""
            _call("post", path, {"payment_method": method}, idempotency_key=f"{request.idempotency_key}-pm")
            pi = _call("post", f"{path}/confirm", idempotency_key=request.idempotency_key)
            if card and not isinstance(pi.get("payment_method"), dict):
                pi = {**pi, "payment_method": {"id": method, "card": card}}  # the summary it leaves out
        else:
            method = request.payment_method_id or _payment_method_from_token(request)
            # Expanded: the card's summary (brand, last4, expiry) comes back with it.
            params = {"payment_method": method, "expand": ["payment_method"]}
            if request.return_url:
                params["return_url"] = request.return_url
            pi = _call("post", f"{path}/confirm", params, idempotency_key=request.idempotency_key)
    return charge_result(pi)


def payment_intent_retrieve(*, payment_intent_id: str) -> ChargeResult:
    with stripe_errors_translated(outcome_may_be_unknown=False):
        pi = _call("get", f"/v1/payment_intents/{_path_id(payment_intent_id)}")
    return charge_result(pi)


def payment_intent_search(*, metadata: dict[str, str]) -> list[ChargeResult]:
    """PaymentIntents whose metadata holds all these pairs, newest first (Stripe's
    search API; its index may lag by about a minute, so only use it for objects
    older than that)."""
    query = " AND ".join(f"metadata['{key}']:'{value}'" for key, value in sorted(metadata.items()))
    with stripe_errors_translated(outcome_may_be_unknown=False):
        found = stripe_client().v1.payment_intents.search(params={"query": query, "limit": 10})
    return [charge_result(as_dict(pi)) for pi in found.data]


def refund_create(*, request: RefundRequest) -> RefundResult:
    params: dict = {
        "payment_intent": request.payment_intent_id,
        "amount": request.amount_minor,
        "metadata": request.metadata,
    }
    if request.reason and using_localstripe():
        # localstripe rejects `reason` ("Unexpected reason"); Stripe takes it.
        # There it travels in metadata so that nothing is lost.
        params["metadata"] = {**request.metadata, "reason": request.reason}
    elif request.reason:
        params["reason"] = request.reason
    with stripe_errors_translated(outcome_may_be_unknown=True):
        refund = _call("post", "/v1/refunds", params, idempotency_key=request.idempotency_key)
    return refund_result(refund)


def refund_retrieve(*, refund_id: str) -> RefundResult:
    with stripe_errors_translated(outcome_may_be_unknown=False):
        return refund_result(_call("get", f"/v1/refunds/{_path_id(refund_id)}"))


def dispute_retrieve(*, dispute_id: str) -> DisputeResult:
    with stripe_errors_translated(outcome_may_be_unknown=False):
        return dispute_result(_call("get", f"/v1/disputes/{_path_id(dispute_id)}"))


def refund_list_for_payment_intent(*, payment_intent_id: str) -> list[RefundResult]:
    """Every refund of a PaymentIntent (a list, not a search: it is up to date)."""
    with stripe_errors_translated(outcome_may_be_unknown=False):
        page = stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
        return [refund_result(as_dict(refund)) for refund in page.auto_paging_iter()]


def payment_intent_capture(
    *, payment_intent_id: str, amount_minor: int, idempotency_key: str
) -> ChargeResult:
    with stripe_errors_translated(outcome_may_be_unknown=True):
        pi = _call(
            "post",
            f"/v1/payment_intents/{_path_id(payment_intent_id)}/capture",
            {"amount_to_capture": amount_minor},
            idempotency_key=idempotency_key,
        )
    result = charge_result(pi)
    # localstripe leaves amount_received out of a captured intent; Stripe sets it.
    if result.status == "succeeded" and not result.amount_received_minor:
        result = replace(result, amount_received_minor=amount_minor)
    return result


def payment_intent_cancel(*, payment_intent_id: str, idempotency_key: str) -> ChargeResult:
    with stripe_errors_translated(outcome_may_be_unknown=True):
        pi = _call(
            "post",
            f"/v1/payment_intents/{_path_id(payment_intent_id)}/cancel",
            idempotency_key=idempotency_key,
        )
    return charge_result(pi)


# --- webhooks -----------------------------------------------------------------------

WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's standard


def webhook_event_construct(*, payload: bytes, signature: str, secret: str) -> dict:
    """Verifies Stripe-Signature (HMAC-SHA256 over the raw body, 300 s tolerance)
    and returns the event as a plain dict."""
    if not secret:
        raise ServiceUnavailable("STRIPE_WEBHOOK_SECRET is not configured.", code="webhook_not_configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, ValueError):
        raise InvalidRequest(
            "The Stripe-Signature header is missing or does not match the body.",
            code="invalid_signature",
            param="Stripe-Signature",
        ) from None
    return event.to_dict()


# --- raw objects for dj-stripe's sync ------------------------------------------------


def stripe_object_for_sync(*, kind: str, object_id: str) -> dict:
    """The raw Stripe object, for dj-stripe's sync_from_stripe_data() only.
    kind: payment_intent, charge or refund."""
    collection = {"payment_intent": "payment_intents", "charge": "charges", "refund": "refunds"}[kind]
    # The PaymentIntent's PaymentMethod, latest Charge and its balance
    # transaction come inline: dj-stripe would otherwise fetch each of them (three
    # more PSP round trips per payment, measured in make bench). Only fields
    # Stripe documents as expandable (a Charge's payment_method is not).
    params = (
        {"expand": ["payment_method", "latest_charge", "latest_charge.balance_transaction"]}
        if kind == "payment_intent"
        else None
    )
    with stripe_errors_translated(outcome_may_be_unknown=False):
        return _call("get", f"/v1/{collection}/{_path_id(object_id)}", params)
