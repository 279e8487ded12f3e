"""What each Stripe error means for the gateway (stripe_integration.client.errors).

The errors are stripe-python's own classes, built with the arguments it builds
them with from Stripe's answer (_APIRequestor.specific_v1_api_error: message,
body, HTTP status, JSON, headers; no `code` for these classes). The PSP
stand-ins cannot be made to send these answers, so the table is called directly."""

from __future__ import annotations

import json

import pytest
import stripe
from prometheus_client import REGISTRY

from gateway.core.errors import Conflict, ServiceUnavailable
from payments.providers import PspOutcomeUnknown
from stripe_integration.client.errors import stripe_error_translate

pytestmark = pytest.mark.fast


def _stripe_error(error_class: type[stripe.StripeError], http_status: int, **error) -> stripe.StripeError:
    body = {"error": {"message": "An error from Stripe.", **error}}
    return error_class(
        body["error"]["message"], json.dumps(body), http_status, body, {"Request-Id": "req_test"}
    )


def _psp_errors_counted(code: str) -> float:
    return REGISTRY.get_sample_value("gateway_psp_errors_total", {"code": code}) or 0.0


# A key reused with other parameters: a 400 of type idempotency_error.
IDEMPOTENCY_ERRORS = [_stripe_error(stripe.IdempotencyError, 400, type="idempotency_error")]
# Too many requests (429), a lock timeout (429, lock_timeout), and the old 400 with code rate_limit.
RATE_LIMIT_ERRORS = [
    _stripe_error(stripe.RateLimitError, 429, type="invalid_request_error", code="rate_limit"),
    _stripe_error(stripe.RateLimitError, 429, type="invalid_request_error", code="lock_timeout"),
    _stripe_error(stripe.RateLimitError, 400, type="invalid_request_error", code="rate_limit"),
]
# A wrong, expired or rolled key (401), and a restricted key without the permission (403).
AUTHENTICATION_ERRORS = [
    _stripe_error(stripe.AuthenticationError, 401, type="invalid_request_error"),
    _stripe_error(stripe.AuthenticationError, 401, type="invalid_request_error", code="api_key_expired"),
    _stripe_error(stripe.PermissionError, 403, type="invalid_request_error"),
]


def _ids(errors):
    return [
        f"{type(e).__name__}-{e.http_status}-{e.json_body['error'].get('code', 'no-code')}" for e in errors
    ]


@pytest.mark.parametrize("exc", IDEMPOTENCY_ERRORS, ids=_ids(IDEMPOTENCY_ERRORS))
def test_an_idempotency_error_on_a_read_or_a_setup_call_is_a_409_conflict(exc):
    before = _psp_errors_counted("psp_idempotency_conflict")

    error = stripe_error_translate(exc, outcome_may_be_unknown=False)

    assert type(error) is Conflict
    assert (error.status_code, error.code) == (409, "psp_idempotency_conflict")
    assert _psp_errors_counted("psp_idempotency_conflict") == before + 1


@pytest.mark.parametrize("exc", IDEMPOTENCY_ERRORS, ids=_ids(IDEMPOTENCY_ERRORS))
def test_an_idempotency_error_on_a_charge_or_refund_is_an_outcome_to_reconcile(exc):
    # The key was used before: an earlier attempt reached the PSP and may have charged.
    before = _psp_errors_counted("psp_timeout")

    error = stripe_error_translate(exc, outcome_may_be_unknown=True)

    assert type(error) is PspOutcomeUnknown
    assert (error.status_code, error.code) == (503, "psp_timeout")
    assert error.headers == {"Retry-After": "5"}
    assert _psp_errors_counted("psp_timeout") == before + 1


@pytest.mark.parametrize("exc", RATE_LIMIT_ERRORS, ids=_ids(RATE_LIMIT_ERRORS))
def test_a_rate_limit_on_a_read_or_a_setup_call_is_a_503_to_retry_shortly(exc):
    before = _psp_errors_counted("psp_rate_limited")

    error = stripe_error_translate(exc, outcome_may_be_unknown=False)

    assert type(error) is ServiceUnavailable
    assert (error.status_code, error.code) == (503, "psp_rate_limited")
    assert error.headers == {"Retry-After": "2"}
    assert _psp_errors_counted("psp_rate_limited") == before + 1


@pytest.mark.parametrize("exc", RATE_LIMIT_ERRORS, ids=_ids(RATE_LIMIT_ERRORS))
def test_a_rate_limit_on_a_charge_or_refund_is_an_outcome_to_reconcile(exc):
    # stripe-python retries on its own: the 429 may answer a retry whose first attempt went through.
    before = _psp_errors_counted("psp_timeout")

    error = stripe_error_translate(exc, outcome_may_be_unknown=True)

    assert type(error) is PspOutcomeUnknown
    assert (error.status_code, error.code) == (503, "psp_timeout")
    assert error.headers == {"Retry-After": "2"}
    assert _psp_errors_counted("psp_timeout") == before + 1


@pytest.mark.parametrize("outcome_may_be_unknown", [False, True], ids=["read-or-setup", "charge-or-refund"])
@pytest.mark.parametrize("exc", AUTHENTICATION_ERRORS, ids=_ids(AUTHENTICATION_ERRORS))
def test_a_psp_authentication_failure_is_a_503_of_its_own_whatever_the_call(exc, outcome_may_be_unknown):
    # Stripe refused the key before doing anything: the gateway's fault, not the
    # card's, and never a decline (402) or a bad request (400) from the client.
    before = _psp_errors_counted("psp_authentication_failed")

    error = stripe_error_translate(exc, outcome_may_be_unknown=outcome_may_be_unknown)

    assert isinstance(error, ServiceUnavailable)
    assert (error.status_code, error.code) == (503, "psp_authentication_failed")
    assert _psp_errors_counted("psp_authentication_failed") == before + 1
