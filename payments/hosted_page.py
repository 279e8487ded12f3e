"""The hosted payment page, /pay/{token}: a small page where the payer of a
payment created with `confirm: false` gives the card to the PSP through
Stripe.js (the card never reaches the gateway, only the PSP's token for it),
authenticates (3-D Secure) in the browser, and is sent to the merchant's
success_url. Thin views: the rules are in payments.services.checkout.

A strict Content-Security-Policy: no script but the PSP's Stripe.js and this
page's own (by nonce), no frame but the PSP's, no framing of this page.
A tampered or expired link is a 404.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from gateway.core.errors import GatewayError, InvalidRequest, UnsupportedMediaType, to_gateway_error
from gateway.core.ratelimit import scope_consume
from payments.enums import PaymentStatus
from payments.money import format_amount
from payments.services.checkout import (
    PAID_STATUSES,
    payment_complete_after_authentication,
    payment_confirm_with_card,
    payment_for_link,
)

_TOKEN = re.compile(r"^tok_[A-Za-z0-9_]{1,250}$")
_METHOD = re.compile(r"^pm_[A-Za-z0-9_]{1,250}$")
_STATUS_TEXT = {
    PaymentStatus.SUCCEEDED: "This payment is complete.",
    PaymentStatus.REQUIRES_CAPTURE: "This payment is complete.",
    PaymentStatus.PROCESSING: "This payment is processing.",
    PaymentStatus.CANCELED: "This payment was canceled.",
    PaymentStatus.FAILED: "This payment failed.",
}


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _csp(nonce: str) -> str:
    stripe_js = _origin(settings.STRIPE_JS_URL)
    api = _origin(settings.STRIPE_API_BASE) if settings.STRIPE_API_BASE else "https://api.stripe.com"
    frames = f"{stripe_js} https://hooks.stripe.com" if not settings.LOCALSTRIPE_QUIRKS else stripe_js
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'nonce-{nonce}' {stripe_js}",
            f"style-src 'nonce-{nonce}'",  # Stripe.js sets styles through the DOM, which CSP allows
            f"connect-src 'self' {api}",
            f"frame-src {frames}",
            "img-src 'self' data:",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _payment_or_404(token: str):
    payment = payment_for_link(token)
    if payment is None:
        raise Http404("No such payment link.")
    return payment


def _redirect_url(payment) -> str | None:
    if payment.status not in PAID_STATUSES or not payment.success_url:
        return None
    separator = "&" if "?" in payment.success_url else "?"
    return f"{payment.success_url}{separator}{urllib.parse.urlencode({'payment_id': payment.public_id})}"


@require_GET
@never_cache
def payment_page(request, token: str):
    payment = _payment_or_404(token)
    nonce = secrets.token_urlsafe(16)
    payable = payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    if payment.status in PAID_STATUSES and payment.success_url:
        status_text = "This payment is complete."
    else:
        status_text = _STATUS_TEXT.get(payment.status, "This payment is waiting for its bank.")
    response = render(
        request,
        "payments/pay.html",
        {
            "merchant": payment.client.name,
            "order_id": payment.order_id,
            "amount": f"{format_amount(payment.amount_minor, payment.currency)} {payment.currency.upper()}",
            "payable": payable,
            "status_text": status_text,
            "cancel_url": payment.cancel_url,
            "stripe_js_url": settings.STRIPE_JS_URL,
            "nonce": nonce,
            "config": {
                "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
                "confirmUrl": reverse("payment-page-confirm", kwargs={"token": token}),
                "completeUrl": reverse("payment-page-complete", kwargs={"token": token}),
            },
        },
    )
    response["Content-Security-Policy"] = _csp(nonce)
    response["X-Frame-Options"] = "DENY"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _answer(payment, *, client_secret: str = "", error: GatewayError | None = None) -> JsonResponse:
    body = {"status": payment.status, "redirect_url": _redirect_url(payment)}
    if client_secret:
        body["client_secret"] = client_secret
    if error is not None and payment.status not in PAID_STATUSES:
        body["error"] = {"code": error.code, "message": error.message}
    return JsonResponse(body)


def _error(exc: Exception) -> JsonResponse:
    error = to_gateway_error(exc)
    if error is None:
        raise exc
    return JsonResponse({"error": {"code": error.code, "message": error.message}}, status=error.status_code)


def _json_body(request) -> dict:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Send application/json.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest("Send a JSON object.", code="invalid_json")
    return body


# No CSRF token: the signed link is the credential (no cookie is used), the
# body must be application/json (a cross-site form cannot send that), and the
# card is never in it.
@csrf_exempt
@require_POST
@never_cache
def payment_page_confirm(request, token: str):
    payment = _payment_or_404(token)
    try:
        scope_consume(request, scope="payment_page")
        body = _json_body(request)
        psp_token, method = str(body.get("token") or ""), str(body.get("payment_method") or "")
        if not (_TOKEN.match(psp_token) or _METHOD.match(method)) or (psp_token and method):
            raise InvalidRequest(
                "Send the PSP's token for the card: token (tok_…) or payment_method (pm_…).",
                code="invalid_payment_method",
                param="token",
            )
        attempt = payment_confirm_with_card(payment=payment, token=psp_token, payment_method_id=method)
    except Exception as exc:
        return _error(exc)
    return _answer(attempt.payment, client_secret=attempt.client_secret, error=attempt.error)


@csrf_exempt
@require_POST
@never_cache
def payment_page_complete(request, token: str):
    payment = _payment_or_404(token)
    try:
        scope_consume(request, scope="payment_page")
        _json_body(request)
        payment = payment_complete_after_authentication(payment=payment)
    except Exception as exc:
        return _error(exc)
    error = None
    if payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD and payment.failure_code:
        error = GatewayError(payment.failure_message or "Authentication failed.", code=payment.failure_code)
    return _answer(payment, error=error)
