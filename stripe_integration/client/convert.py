"""Stripe's objects as the gateway's dataclasses (payments.providers): the
only shapes that leave the client. Known differences of localstripe's objects
(latest_charge as a full object) are read in both shapes here."""

from __future__ import annotations

from payments.providers import CardSummary, ChargeResult, DisputeResult, RefundResult


def as_dict(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()


def card_summary(card: dict | None) -> CardSummary | None:
    if not card:
        return None
    return CardSummary(
        brand=card.get("brand") or "",
        last4=card.get("last4") or "",
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        fingerprint=card.get("fingerprint") or "",
    )


_PI_STATUS = {
    "succeeded": "succeeded",
    "requires_action": "requires_action",
    "processing": "processing",
    "requires_confirmation": "processing",
    "requires_capture": "requires_capture",
    "requires_payment_method": "failed",
    "canceled": "canceled",
}


def charge_result(pi: dict) -> ChargeResult:
    # localstripe answers latest_charge with a full Charge object; Stripe with an id.
    latest = pi.get("latest_charge")
    charge = latest if isinstance(latest, dict) else {}
    charge_id = charge.get("id", "") if charge else (latest or "")
    payment_method = pi.get("payment_method")
    pm = payment_method if isinstance(payment_method, dict) else {}
    card = card_summary(pm.get("card")) or card_summary(
        (charge.get("payment_method_details") or {}).get("card")
    )
    error = pi.get("last_payment_error") or {}
    status = _PI_STATUS.get(pi.get("status", ""), "processing")
    if pi.get("status") == "requires_payment_method" and not error:
        status = "requires_payment_method"  # created unconfirmed: nothing was attempted yet
    return ChargeResult(
        status=status,
        payment_intent_id=pi["id"],
        charge_id=charge_id,
        amount_received_minor=pi.get("amount_received") or 0,
        card=card,
        payment_method_id=pm.get("id", "") if pm else (payment_method or ""),
        next_action=pi.get("next_action"),
        client_secret=pi.get("client_secret") or "",
        failure_code=error.get("code") or "",
        failure_message=error.get("message") or "",
        decline_code=error.get("decline_code") or "",
        receipt_url=charge.get("receipt_url") or "",
        amount_minor=pi.get("amount") or 0,
        currency=pi.get("currency") or "",
        metadata=dict(pi.get("metadata") or {}),
    )


def refund_result(refund: dict) -> RefundResult:
    status = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}.get(
        refund.get("status", ""), "pending"
    )
    return RefundResult(
        refund_id=refund["id"],
        status=status,
        amount_minor=refund.get("amount") or 0,
        failure_reason=refund.get("failure_reason") or "",
        metadata=dict(refund.get("metadata") or {}),
        payment_intent_id=id_of(refund.get("payment_intent")),
    )


def id_of(value) -> str:
    """An expandable field: an id, or the object itself."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def dispute_result(dispute: dict) -> DisputeResult:
    charge = dispute.get("charge")
    intent = dispute.get("payment_intent")
    return DisputeResult(
        dispute_id=dispute["id"],
        charge_id=(charge.get("id", "") if isinstance(charge, dict) else charge) or "",
        payment_intent_id=(intent.get("id", "") if isinstance(intent, dict) else intent) or "",
        amount_minor=dispute.get("amount") or 0,
        currency=dispute.get("currency") or "",
        reason=dispute.get("reason") or "",
        status=dispute.get("status") or "",
    )
