"""The gateway's one error family and the one exception handler that renders it.

Every error a client can see is a GatewayError subclass with its own HTTP
status, a stable machine `code` and a Stripe-like `type`. Services raise them;
the handler below renders every error, ours or DRF's, as

    {"error": {"type", "code", "message", "param", "request_id"}}

and rolls back the request's transaction. Anything unexpected becomes a 500
with a generic message and the request id only: no traceback, no card data.
"""

from __future__ import annotations

import logging

from django import db
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from gateway.core.request_context import current_request_id

logger = logging.getLogger("gateway.core.errors")


class GatewayError(Exception):
    status_code = 500
    error_type = "api_error"
    default_code = "internal_error"
    default_detail = "An unexpected error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict | None = None,
        headers: dict | None = None,
    ):
        self.message = message or self.default_detail
        self.code = code or self.default_code
        self.param = param
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"
    default_detail = "The request is not valid."


class AuthenticationFailed(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"
    default_detail = "A valid API key is required: Authorization: Bearer <key>."


class CardDeclined(GatewayError):
    status_code = 402
    error_type = "card_error"
    default_code = "card_declined"
    default_detail = "The card was declined."


class PermissionDeniedError(GatewayError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"
    default_detail = "You may not do this."


class NotFound(GatewayError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "resource_missing"
    default_detail = "No such resource."


class MethodNotAllowed(GatewayError):
    status_code = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"
    default_detail = "This method is not allowed here."


class Conflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"
    default_detail = "The request conflicts with the resource's current state."


class InvalidStateTransition(Conflict):
    """The resource's status does not allow this action (409): the one class
    for every such refusal, with the status it is in (and, when known, where it
    could go)."""

    default_code = "invalid_state_transition"

    def __init__(self, message: str, *, status: str, allowed=None):
        extra = {"status": status}
        if allowed is not None:
            extra["allowed"] = sorted(allowed)
        super().__init__(message, extra=extra)


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


class UnsupportedMediaType(GatewayError):
    status_code = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"
    default_detail = "Send the body as application/json."


class IdempotencyMismatch(GatewayError):
    status_code = 422
    error_type = "idempotency_error"
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request body."


class RateLimited(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limited"
    default_detail = "Too many requests. Retry after the time in Retry-After."


class PspError(GatewayError):
    status_code = 502
    error_type = "api_error"
    default_code = "psp_error"
    default_detail = "The payment provider returned an error. Retry later."


class ServiceUnavailable(GatewayError):
    status_code = 503
    error_type = "api_error"
    default_code = "service_unavailable"
    default_detail = "A dependency is unavailable. Retry later."


def error_body(
    *,
    error_type: str,
    code: str,
    message: str,
    param: str | None = None,
    extra: dict | None = None,
) -> dict:
    body = {
        "type": error_type,
        "code": code,
        "message": message,
        "param": param,
        "request_id": current_request_id(),
    }
    if extra:
        body.update(extra)
    return {"error": body}


def _first_validation_error(detail, prefix: str = "") -> tuple[str | None, str, str]:
    """Flatten DRF's nested ValidationError detail to (param, message, code)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key) if key != "non_field_errors" else ""
            param = f"{prefix}.{name}" if prefix and name else (name or prefix)
            return _first_validation_error(value, param)
    if isinstance(detail, list) and detail:
        return _first_validation_error(detail[0], prefix)
    code = getattr(detail, "code", None) or "invalid"
    return (prefix or None, str(detail), code)


_DRF_MAP: dict[type, type[GatewayError]] = {
    drf_exceptions.ParseError: InvalidRequest,
    drf_exceptions.NotAuthenticated: AuthenticationFailed,
    drf_exceptions.AuthenticationFailed: AuthenticationFailed,
    drf_exceptions.PermissionDenied: PermissionDeniedError,
    drf_exceptions.NotFound: NotFound,
    drf_exceptions.MethodNotAllowed: MethodNotAllowed,
    drf_exceptions.UnsupportedMediaType: UnsupportedMediaType,
    drf_exceptions.Throttled: RateLimited,
    drf_exceptions.NotAcceptable: InvalidRequest,
}


def to_gateway_error(exc: Exception) -> GatewayError | None:
    """Translate any known exception into our family; None for the unexpected."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, drf_exceptions.ValidationError):
        param, message, code = _first_validation_error(exc.detail)
        code = "invalid_request" if code == "invalid" else code
        return InvalidRequest(message, code=code, param=param)
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, PermissionDenied):
        return PermissionDeniedError()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, (db.OperationalError, db.InterfaceError)):
        # The database went away (restart, failover): nothing was half-written,
        # as every change is one transaction; the client retries.
        return ServiceUnavailable(
            "The database is not reachable; retry shortly.",
            code="database_unavailable",
            headers={"Retry-After": "5"},
        )
    for drf_class, ours in _DRF_MAP.items():
        if isinstance(exc, drf_class):
            err = ours(str(exc.detail))
            if isinstance(exc, drf_exceptions.Throttled) and exc.wait:
                err.headers["Retry-After"] = str(int(exc.wait))
            return err
    return None


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: one body for every error, and a rolled-back transaction."""
    # Imported here: rest_framework.views imports the authentication classes,
    # which import this module.
    from rest_framework.views import set_rollback

    set_rollback()
    err = to_gateway_error(exc)
    if err is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        err = GatewayError()
    elif err.status_code >= 500:
        logger.warning("Dependency error: %s (%s)", err.code, err.message)
    body = error_body(
        error_type=err.error_type,
        code=err.code,
        message=err.message,
        param=err.param,
        extra=err.extra,
    )
    headers = dict(err.headers or {})
    view, request = context.get("view"), context.get("request")
    if err.status_code == 401 and view is not None and request is not None:
        # RFC 9110: a 401 says how to authenticate.
        challenge = view.get_authenticate_header(request)
        if challenge:
            headers.setdefault("WWW-Authenticate", challenge)
    return Response(body, status=err.status_code, headers=headers)


def django_error_response(err: GatewayError) -> JsonResponse:
    """The standard error body outside DRF (middleware, Django's own handlers)."""
    return _django_error_response(err)


def _django_error_response(err: GatewayError) -> JsonResponse:
    return JsonResponse(
        error_body(error_type=err.error_type, code=err.code, message=err.message),
        status=err.status_code,
    )


# Django-level handlers (urls.py), so that paths outside DRF views answer with
# the same JSON body instead of an HTML page.
def handler400(request, exception=None):
    return _django_error_response(InvalidRequest())


def handler403(request, exception=None):
    return _django_error_response(PermissionDeniedError())


def handler404(request, exception=None):
    return _django_error_response(NotFound("No such path."))


def handler500(request):
    return _django_error_response(GatewayError())
