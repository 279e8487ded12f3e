"""What each Stripe error means for the gateway: one table, matched on the
exception's class (and Stripe's `code` or HTTP status), never on message text,
as dj-stripe keeps its own in one module. The first row that matches wins."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import stripe

from gateway.core.errors import (
    CardDeclined,
    Conflict,
    GatewayError,
    InvalidRequest,
    PspError,
    ServiceUnavailable,
)
from gateway.core.metrics import PSP_ERRORS
from payments.providers import PspOutcomeUnknown


def _code(exc) -> str:
    return getattr(exc, "code", None) or ""


def _card_declined(exc, unknown: bool) -> GatewayError:
    error = getattr(exc, "error", None)
    decline_code = (getattr(error, "decline_code", None) if error else None) or _code(exc) or "card_declined"
    return CardDeclined(
        getattr(exc, "user_message", None) or "The card was declined.",
        code=_code(exc) or "card_declined",
        extra={"decline_code": decline_code},
    )


def _idempotency_conflict(exc, unknown: bool) -> GatewayError:
    # The key was used before: an earlier attempt reached the PSP. On a charge or
    # a refund that is no refusal, it is an outcome to reconcile.
    if unknown:
        return PspOutcomeUnknown(headers={"Retry-After": "5"})
    return Conflict(
        "The payment provider saw this idempotency key with other parameters.",
        code="psp_idempotency_conflict",
    )


def _missing(exc, unknown: bool) -> GatewayError:
    # Stripe says resource_missing; localstripe answers the 404 without a code.
    return InvalidRequest(
        getattr(exc, "user_message", None) or "The payment provider has no such object.",
        code=_code(exc) or "resource_missing",
        param=getattr(exc, "param", None),
    )


def _invalid(exc, unknown: bool) -> GatewayError:
    return InvalidRequest(
        getattr(exc, "user_message", None) or "The payment provider rejected the request.",
        code=_code(exc) or "psp_invalid_request",
        param=getattr(exc, "param", None),
    )


def _authentication(exc, unknown: bool) -> GatewayError:
    # A rotated or restricted key (401/403): Stripe refused the request before
    # doing anything. It is the gateway's fault, not the card's: a 503 that
    # leaves the payment retryable, never a decline.
    return ServiceUnavailable(
        "The gateway could not authenticate with the payment provider; nothing was charged. Retry later.",
        code="psp_authentication_failed",
        headers={"Retry-After": "30"},
    )


def _rate_limited(exc, unknown: bool) -> GatewayError:
    # stripe-python retries on its own: a 429 on a retry can follow a first
    # attempt that went through. On a charge or a refund, reconcile; never fail.
    if unknown:
        return PspOutcomeUnknown(headers={"Retry-After": "2"})
    return ServiceUnavailable(
        "The payment provider is rate limiting; retry shortly.",
        code="psp_rate_limited",
        headers={"Retry-After": "2"},
    )


def _no_answer(exc, unknown: bool) -> GatewayError:
    # A call that may have reached the PSP (a charge, a refund): its outcome is unknown.
    if unknown:
        return PspOutcomeUnknown(headers={"Retry-After": "5"})
    if isinstance(exc, stripe.APIConnectionError):
        return ServiceUnavailable(
            "The payment provider is unreachable; retry shortly.",
            code="psp_unavailable",
            headers={"Retry-After": "5"},
        )
    return PspError()


def _is_404(exc) -> bool:
    return getattr(exc, "http_status", None) == 404


# (exception classes, an extra condition or None, what it means)
ERROR_TABLE: list[tuple[tuple[type, ...], Callable | None, Callable]] = [
    ((stripe.CardError,), None, _card_declined),
    ((stripe.IdempotencyError,), None, _idempotency_conflict),
    ((stripe.InvalidRequestError,), _is_404, _missing),
    ((stripe.InvalidRequestError,), None, _invalid),
    ((stripe.AuthenticationError, stripe.PermissionError), None, _authentication),
    ((stripe.RateLimitError,), None, _rate_limited),
    ((stripe.APIConnectionError, stripe.APIError), None, _no_answer),
]


def stripe_error_translate(exc: stripe.StripeError, *, outcome_may_be_unknown: bool) -> GatewayError:
    """The gateway's error for a Stripe error, counted in /metrics by its code."""
    error = (
        next(
            (
                meaning(exc, outcome_may_be_unknown)
                for classes, condition, meaning in ERROR_TABLE
                if isinstance(exc, classes) and (condition is None or condition(exc))
            ),
            None,
        )
        or PspError()
    )
    PSP_ERRORS.labels(code=error.code).inc()
    return error


@contextlib.contextmanager
def stripe_errors_translated(*, outcome_may_be_unknown: bool):
    """`with stripe_errors_translated(outcome_may_be_unknown=…):` around one
    Stripe call: its error becomes the gateway's (stripe_error_translate). A
    card error is always a definite answer; for any other error without an
    answer, `outcome_may_be_unknown` says whether the call may have taken
    effect (a create, a capture, a refund) or certainly did not (a read)."""
    try:
        yield
    except stripe.CardError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=outcome_may_be_unknown) from None
