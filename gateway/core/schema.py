"""OpenAPI pieces shared by every endpoint: the error body and the
Idempotency-Key header (the API key's scheme is payments.auth's)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR_BODY = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "type": serializers.CharField(
                    help_text="invalid_request_error, authentication_error, card_error, "
                    "idempotency_error, rate_limit_error or api_error"
                ),
                "code": serializers.CharField(help_text="A stable machine code, e.g. card_declined."),
                "message": serializers.CharField(),
                "param": serializers.CharField(allow_null=True),
                "request_id": serializers.CharField(),
                # Present only with the errors that carry them:
                "decline_code": serializers.CharField(
                    required=False, help_text="card_error: the issuer's reason, e.g. insufficient_funds."
                ),
                "payment_id": serializers.CharField(
                    required=False, help_text="card_error: the payment that was recorded as failed."
                ),
                "status": serializers.CharField(
                    required=False, help_text="invalid_state_transition: the resource's current status."
                ),
                "allowed": serializers.ListField(
                    child=serializers.CharField(),
                    required=False,
                    help_text="invalid_state_transition: the statuses it could move to.",
                ),
                "next_action": serializers.JSONField(
                    required=False,
                    allow_null=True,
                    help_text="authentication_required: what the payer must do.",
                ),
                "attempts_left": serializers.IntegerField(
                    required=False, help_text="A wrong one-time code: attempts left before the lock."
                ),
                "retry_after": serializers.IntegerField(
                    required=False, help_text="otp_resend_too_soon: seconds before a new code may be sent."
                ),
                "refundable_minor": serializers.IntegerField(
                    required=False, help_text="amount_too_large on a refund: what remains refundable."
                ),
                "authorized_minor": serializers.IntegerField(
                    required=False, help_text="amount_too_large on a capture: what was authorized."
                ),
                "errors": serializers.ListField(
                    child=inline_serializer(
                        "CardFieldError",
                        {
                            "field": serializers.CharField(),
                            "code": serializers.CharField(),
                            "message": serializers.CharField(),
                        },
                    ),
                    required=False,
                    help_text="A raw card that is not valid: every field's error.",
                ),
            },
        ),
    },
)

ERROR_RESPONSES = {
    code: OpenApiResponse(ERROR_BODY, description=text)
    for code, text in {
        400: "Invalid input",
        401: "No key, or a bad key",
        402: "Card declined (with decline_code)",
        404: "Not found",
        409: "Illegal state, or the same Idempotency-Key in flight",
        410: "The one-time code expired or was used",
        413: "Body too large",
        415: "Not a JSON body",
        422: "Idempotency-Key reused with another body",
        429: "Rate limited",
        502: "PSP error",
        503: "A dependency is unavailable",
    }.items()
}


def error_responses(*codes: int) -> dict:
    """The error answers one operation can give, each with the one error body."""
    return {code: ERROR_RESPONSES[code] for code in codes}


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    # Optional for the seed's clients, unless the deployment requires it.
    required=settings.IDEMPOTENCY_KEY_REQUIRED,
    description="Up to 255 characters. A replay with the same body returns the first answer "
    "(header Idempotent-Replayed: true); another body gives 422. Kept 24 hours.",
)


# Request-body components whose serializer refuses unknown fields
# (payments.serializers.InputSerializer registers them).
_STRICT_REQUEST_COMPONENTS: set[str] = set()


def strict_request_component_register(name: str) -> None:
    _STRICT_REQUEST_COMPONENTS.add(name)


def strict_request_bodies_refuse_extra_fields(result, generator, request, public):
    """`additionalProperties: false` on the request bodies that refuse unknown
    fields, so that a generated client and the docs say what the server does."""
    schemas = result.get("components", {}).get("schemas", {})
    for name in _STRICT_REQUEST_COMPONENTS:
        if name in schemas and schemas[name].get("type") == "object":
            schemas[name]["additionalProperties"] = False
    return result


def public_operations_declare_no_security(result, generator, request, public):
    """drf-spectacular writes `security: [{}]` ("a key is optional") for public
    views; they take none, so say `security: []`. Generated clients then call
    /health and the webhook with a plain client instead of asking for a key."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and operation.get("security") == [{}]:
                operation["security"] = []
    return result
