"""OpenAPI pieces shared by every endpoint: the error body and the
Idempotency-Key header (the API key's scheme is payments.auth's)."""

from __future__ import annotations

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
        422: "Idempotency-Key reused with another body",
        429: "Rate limited",
        502: "PSP error",
        503: "A dependency is unavailable",
    }.items()
}

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Up to 255 characters. A replay with the same body returns the first answer "
    "(header Idempotent-Replayed: true); another body gives 422. Kept 24 hours.",
)
