"""The standard payment API (the seed's paths). Thin: parse, call one service, serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from gateway.core.errors import InvalidRequest
from gateway.core.schema import IDEMPOTENCY_HEADER, error_responses
from payments.enums import PaymentStatus
from payments.http import (
    client_actor,
    idempotent,
    payment_body,
    payment_input,
    payment_read_body,
    process_status,
    refund_answer,
    refund_operation,
    refund_status,
    wants_async,
)
from payments.selectors import payment_events, payment_get_for_client, payment_list
from payments.serializers import (
    AmountOnlySerializer,
    PaymentAnswerSerializer,
    PaymentEventSerializer,
    PaymentListFilterSerializer,
    PaymentProcessSerializer,
    PaymentSerializer,
    PaymentStatusSerializer,
    RefundAnswerSerializer,
    RefundCreateSerializer,
)
from payments.services.charges import CANCELED_BY_MERCHANT, payment_cancel, payment_capture, payment_confirm
from payments.services.payments import PaymentOutcome
from payments.services.process import payment_process
from payments.services.refunds import payment_refund


class PaymentCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404; it is the client's input: a 400.
        try:
            return super().decode_cursor(request)
        except DRFNotFound as exc:
            raise InvalidRequest(
                "The cursor is not one this API gave; use the next or previous link as it is.",
                code="invalid_cursor",
                param="cursor",
            ) from exc


class PaymentEventCursorPagination(PaymentCursorPagination):
    ordering = "id"  # a timeline reads oldest first


class PaymentViewSet(viewsets.GenericViewSet):
    serializer_class = PaymentSerializer
    lookup_url_kwarg = "payment_id"
    lookup_value_regex = r"[A-Za-z0-9_\-:.]{1,64}"
    pagination_class = PaymentCursorPagination

    @extend_schema(
        operation_id="payments.process",
        summary="Create and charge a payment",
        tags=["payments"],
        request=PaymentProcessSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: PaymentAnswerSerializer,
            202: PaymentAnswerSerializer,
            **error_responses(400, 401, 402, 409, 413, 415, 422, 429, 502, 503),
        },
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def process(self, request):
        """Creates a payment and charges it (201), holds it for OTP, or queues it (202)."""
        serializer = PaymentProcessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = payment_process(
            client=request.auth,
            data=payment_input(request, serializer),
            actor=client_actor(request),
            run_async=wants_async(request, data),
        )
        return Response(payment_body(outcome, request), status=process_status(outcome))

    @extend_schema(
        operation_id="payments.list",
        summary="List your payments",
        tags=["payments"],
        parameters=[
            OpenApiParameter("status", str, enum=PaymentStatus.values),
            OpenApiParameter("order_id", str),
            OpenApiParameter(
                "created_gte", OpenApiTypes.DATETIME, description="Created at or after (ISO 8601)."
            ),
            OpenApiParameter(
                "created_lte", OpenApiTypes.DATETIME, description="Created at or before (ISO 8601)."
            ),
        ],
        responses={200: PaymentSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def list(self, request):
        """Your payments, newest first, a page at a time (`limit`, `next`/`previous`
        links), filtered by status, order id and creation time. A filter that does
        not parse is a 400, never ignored."""
        filters = PaymentListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(payment_list(client=request.auth, filters=filters.validated_data))
        return self.get_paginated_response(PaymentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payments.retrieve",
        summary="Get a payment with its refunds",
        tags=["payments"],
        responses={200: PaymentSerializer, **error_responses(401, 404, 429)},
    )
    def retrieve(self, request, payment_id: str):
        """One of your payments, with its refunds. Another client's payment is a 404,
        like an unknown one."""
        return Response(payment_read_body(client=request.auth, public_id=payment_id))

    @extend_schema(
        operation_id="payments.status",
        summary="Get a payment's status",
        tags=["payments"],
        responses={200: PaymentStatusSerializer, **error_responses(401, 404, 429)},
    )
    @action(detail=True, methods=["get"], url_path="status")
    def payment_status(self, request, payment_id: str):
        """The seed's status answer: `{payment_id, order_id, status}`."""
        return Response(payment_read_body(client=request.auth, public_id=payment_id, status_only=True))

    @extend_schema(
        operation_id="payments.events",
        summary="Get a payment's timeline",
        tags=["payments"],
        responses={200: PaymentEventSerializer(many=True), **error_responses(400, 401, 404, 429)},
    )
    @action(detail=True, methods=["get"], pagination_class=PaymentEventCursorPagination)
    def events(self, request, payment_id: str):
        """The payment's timeline (`created`, `charge_succeeded`, `refund_created`, …),
        oldest first, a page at a time: `limit`, and the `next` and `previous` links."""
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        page = self.paginate_queryset(payment_events(payment=payment))
        return self.get_paginated_response(PaymentEventSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payments.refund",
        summary="Refund a payment, in full or in part",
        tags=["payments"],
        request=RefundCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: RefundAnswerSerializer,
            202: RefundAnswerSerializer,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 502, 503),
        },
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def refund(self, request, payment_id: str):
        """Refunds `amount` (major units), or all that remains when absent. 201 with
        the refund and its payment; 202 when the outcome is not known yet (`pending`,
        settled by reconciliation); 400 `amount_too_large` beyond what remains."""
        serializer = RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        refund = payment_refund(
            payment=payment,
            amount_minor=serializer.amount_minor(payment.currency),
            reason=serializer.validated_data.get("reason", ""),
            actor=client_actor(request),
            **refund_operation(request),
        )
        return Response(refund_answer(refund), status=refund_status(refund))

    @extend_schema(
        operation_id="payments.confirm",
        summary="Finish a payment after 3-D Secure",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: PaymentAnswerSerializer,
            **error_responses(400, 401, 402, 404, 409, 422, 429, 502, 503),
        },
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request, payment_id: str):
        """Finishes a `requires_action` payment after the customer authenticated (3-D Secure)."""
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        payment = payment_confirm(payment=payment, actor=client_actor(request))
        return Response(payment_body(PaymentOutcome(payment=payment)))

    @extend_schema(
        operation_id="payments.capture",
        summary="Capture an authorized payment",
        tags=["payments"],
        request=AmountOnlySerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: PaymentAnswerSerializer,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 502, 503),
        },
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def capture(self, request, payment_id: str):
        """Captures an authorized payment (capture_method=manual), all of it or `amount`."""
        serializer = AmountOnlySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        payment = payment_capture(
            payment=payment,
            actor=client_actor(request),
            amount_minor=serializer.amount_minor(payment.currency),
        )
        return Response(payment_body(PaymentOutcome(payment=payment)))

    @extend_schema(
        operation_id="payments.cancel",
        summary="Cancel a payment not captured yet",
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PaymentAnswerSerializer, **error_responses(400, 401, 404, 409, 422, 429, 502, 503)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, payment_id: str):
        """Cancels a payment that has not been captured."""
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        payment = payment_cancel(
            payment=payment, actor=client_actor(request), cancellation_reason=CANCELED_BY_MERCHANT
        )
        return Response(payment_body(PaymentOutcome(payment=payment)))
