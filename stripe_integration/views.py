"""The seed's Stripe endpoints. They go through the same payments services as
/api/v1/payments: one code path for every payment."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from gateway.core.errors import InvalidRequest
from gateway.core.ratelimit import client_ip, scope_consume
from gateway.core.schema import IDEMPOTENCY_HEADER, error_responses
from payments.cards import card_validate
from payments.http import (
    client_actor,
    idempotent,
    payment_body,
    payment_input,
    process_status,
    refund_answer,
    refund_operation,
    refund_status,
    wants_async,
)
from payments.selectors import payment_get_for_client
from payments.serializers import PaymentAnswerSerializer, PaymentProcessSerializer, RefundAnswerSerializer
from payments.services.charges import payment_needs_psp_refresh, payment_sync_from_psp
from payments.services.payments import PaymentOutcome
from payments.services.process import payment_process, raw_card_data_ensure_accepted
from payments.services.refunds import payment_refund
from stripe_integration.serializers import (
    StripeRefundSerializer,
    ValidateCardRequestSerializer,
    ValidateCardResponseSerializer,
)
from stripe_integration.webhooks import webhook_receive


class StripeViewSet(viewsets.ViewSet):
    """The seed's /stripe/* endpoints: validate-card, payment, payment/{id}, refund."""

    def get_throttles(self):
        # validate-card has a stricter limit than the rest (gateway.core.ratelimit).
        self.rate_limit_scope = "validate_card" if self.action == "validate_card" else "default"
        return super().get_throttles()

    @extend_schema(
        operation_id="stripe.validate_card",
        summary="Check a card locally (the seed's)",
        tags=["stripe"],
        request=ValidateCardRequestSerializer,
        responses={200: ValidateCardResponseSerializer, **error_responses(400, 401, 413, 415, 429)},
    )
    def validate_card(self, request):
        """Validates a card locally; the card is never sent anywhere. A well-formed
        request answers 200 even when the card is not valid (the seed's contract).
        Where raw card data is not accepted (ACCEPT_RAW_CARD_DATA off), neither is this."""
        raw_card_data_ensure_accepted()
        serializer = ValidateCardRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        card = serializer.validated_data["card"]
        check = card_validate(
            number=card["number"], exp_month=card["exp_month"], exp_year=card["exp_year"], cvc=card["cvc"]
        )
        return Response(
            {
                "valid": check.valid,
                "brand": check.brand,
                "last4": check.last4,
                "errors": [error.__dict__ for error in check.errors],
                "card_type": check.brand,
                "message": "Card is valid" if check.valid else check.errors[0].message,
            }
        )

    @extend_schema(
        operation_id="stripe.create_payment",
        summary="Create and charge a payment (the seed's path)",
        tags=["stripe"],
        request=PaymentProcessSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: PaymentAnswerSerializer,
            202: PaymentAnswerSerializer,
            **error_responses(400, 401, 402, 409, 413, 415, 422, 429, 502, 503),
        },
    )
    @idempotent
    def create_payment(self, request):
        """The seed's payment endpoint: the same service as /payments/process."""
        serializer = PaymentProcessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = payment_process(
            client=request.auth,
            data=payment_input(request, serializer),
            actor=client_actor(request),
            run_async=wants_async(request, serializer.validated_data),
        )
        return Response(payment_body(outcome, request), status=process_status(outcome))

    @extend_schema(
        operation_id="stripe.retrieve_payment",
        summary="Get a payment, refreshed from Stripe (the seed's path)",
        tags=["stripe"],
        responses={200: PaymentAnswerSerializer, **error_responses(401, 404, 429, 502, 503)},
    )
    def retrieve_payment(self, request, payment_id: str):
        """The client's own payment (by our payment id, never a raw PaymentIntent id),
        refreshed from Stripe while its outcome can still change there (under
        the client's own `psp_read` limit); a settled one is answered as stored."""
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        if payment_needs_psp_refresh(payment=payment):
            scope_consume(request, scope="psp_read")
            payment = payment_sync_from_psp(payment=payment, actor=client_actor(request))
        payment = payment_get_for_client(client=request.auth, public_id=payment.public_id)
        return Response(payment_body(PaymentOutcome(payment=payment)))

    @extend_schema(
        operation_id="stripe.refund",
        summary="Refund a payment (the seed's path)",
        tags=["stripe"],
        request=StripeRefundSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: RefundAnswerSerializer,
            202: RefundAnswerSerializer,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 502, 503),
        },
    )
    @idempotent
    def refund(self, request):
        """The seed's refund: `{payment_id, amount?, reason?}`, through the same
        refund service as /payments/{id}/refund. 201 with the refund; 202 when
        its outcome is not known yet (`pending`, settled by reconciliation)."""
        serializer = StripeRefundSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment = payment_get_for_client(
            client=request.auth, public_id=data["payment_id"], with_refunds=False
        )
        refund = payment_refund(
            payment=payment,
            actor=client_actor(request),
            reason=data.get("reason", ""),
            amount_minor=serializer.amount_minor(payment.currency),
            **refund_operation(request),
        )
        return Response(refund_answer(refund), status=refund_status(refund))


class StripeWebhookViewSet(viewsets.ViewSet):
    """Stripe's deliveries. No API key: the Stripe-Signature header is the proof."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # No throttle on the way in: only invalid signatures count, per address,
    # after the check (failure_count), so junk never starves Stripe's deliveries.
    throttle_classes: list = []

    @extend_schema(
        operation_id="stripe.webhook",
        summary="Receive Stripe's events (signed; called by Stripe)",
        tags=["stripe"],
        # Stripe's Event object, signed as sent: the signature covers the raw bytes.
        request={"application/json": {"type": "object", "additionalProperties": True}},
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="t=<unix time>,v1=<HMAC-SHA256 of 't.body' under STRIPE_WEBHOOK_SECRET>",
            )
        ],
        responses={
            200: inline_serializer(
                "WebhookReceipt",
                {
                    "received": serializers.BooleanField(),
                    "event_id": serializers.CharField(),
                    "processed": serializers.BooleanField(
                        help_text="False when its handler failed: stored, to be reprocessed."
                    ),
                },
            ),
            **error_responses(400, 413, 429),
        },
    )
    def receive(self, request):
        try:
            record = webhook_receive(
                payload=request.body,
                signature=request.headers.get("Stripe-Signature", ""),
                remote_ip=client_ip(request),
            )
        except InvalidRequest:
            scope_consume(request, scope="webhook_invalid")
            raise
        return Response({"received": True, "event_id": record.event_id, "processed": record.processed})
