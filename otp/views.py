"""The seed's OTP paths: POST /payments/OTP and POST /payments/validate."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from gateway.core.schema import IDEMPOTENCY_HEADER, error_responses
from otp.serializers import OtpSendResponseSerializer, OtpValidateSerializer, PaymentReferenceSerializer
from otp.services import otp_send_after_commit, otp_verify
from payments.http import client_actor, idempotency_claim, idempotent, payment_body
from payments.selectors import payment_get_for_otp
from payments.serializers import PaymentAnswerSerializer


class OtpViewSet(viewsets.ViewSet):
    def get_throttles(self):
        self.rate_limit_scope = "otp_send" if self.action == "send" else "otp_validate"
        return super().get_throttles()

    @extend_schema(
        operation_id="otp.send",
        summary="Send a new one-time code",
        tags=["otp"],
        request=PaymentReferenceSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            202: OtpSendResponseSerializer,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 503),
        },
    )
    @idempotent
    def send(self, request):
        """Sends a new code for a payment waiting for one. The code is never in the response."""
        serializer = PaymentReferenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = payment_get_for_otp(client=request.auth, **serializer.validated_data)
        accepted = otp_send_after_commit(payment=payment)
        return Response(
            {"expires_in": accepted.expires_in, "resend_available_in": accepted.resend_available_in},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        operation_id="otp.validate",
        summary="Check a one-time code and charge the payment",
        tags=["otp"],
        request=OtpValidateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: PaymentAnswerSerializer,
            **error_responses(400, 401, 402, 404, 409, 410, 413, 415, 422, 429, 502, 503),
        },
    )
    @idempotent
    def validate(self, request):
        """Checks the code; on success the payment is charged and returned. With an
        Idempotency-Key, a retried wrong code is answered again, not counted again."""
        serializer = OtpValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        code = data.pop("otp")
        claim = idempotency_claim(request)
        operation = str(claim.operation_uuid) if claim and claim.resumed else ""
        payment = payment_get_for_otp(client=request.auth, operation=operation, **data)
        outcome = otp_verify(
            payment=payment,
            code=code,
            client_id=request.auth.pk,
            actor=client_actor(request),
            operation=str(claim.operation_uuid) if claim else "",  # recorded with the verification
        )
        return Response(payment_body(outcome))
