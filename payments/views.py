"""The standard payment API (the seed's paths). Thin: parse, call one service, serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from gateway.schema import ERROR_RESPONSES, IDEMPOTENCY_HEADER
from payments.api import (
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
from payments.enums import PaymentStatus
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
from payments.services.charges import payment_cancel, payment_capture, payment_confirm
from payments.services.payments import PaymentOutcome
from payments.services.process import payment_process
from payments.services.refunds import payment_refund


class PaymentCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"


class PaymentEventCursorPagination(PaymentCursorPagination):
    ordering = "id"  # a timeline reads oldest first


class PaymentViewSet(viewsets.GenericViewSet):
    serializer_class = PaymentSerializer
    lookup_url_kwarg = "payment_id"
    lookup_value_regex = r"[A-Za-z0-9_\-:.]{1,64}"
    pagination_class = PaymentCursorPagination

    @extend_schema(
        operation_id="payments.process",
        tags=["payments"],
        request=PaymentProcessSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: PaymentAnswerSerializer, 202: PaymentAnswerSerializer, **ERROR_RESPONSES},
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
        return Response(payment_body(outcome), status=process_status(outcome))

    @extend_schema(
        operation_id="payments.list",
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
        responses={200: PaymentSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request):
        filters = PaymentListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(payment_list(client=request.auth, filters=filters.validated_data))
        return self.get_paginated_response(PaymentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payments.retrieve",
        tags=["payments"],
        responses={200: PaymentSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request, payment_id: str):
        payment = payment_get_for_client(client=request.auth, public_id=payment_id)
        return Response(PaymentSerializer(payment).data)

    @extend_schema(
        operation_id="payments.status",
        tags=["payments"],
        responses={200: PaymentStatusSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"], url_path="status")
    def payment_status(self, request, payment_id: str):
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        return Response(PaymentStatusSerializer(payment).data)

    @extend_schema(
        operation_id="payments.events",
        tags=["payments"],
        responses={200: PaymentEventSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"], pagination_class=PaymentEventCursorPagination)
    def events(self, request, payment_id: str):
        """The payment's timeline, oldest first, a page at a time (`limit`, `cursor`),
        as the schema says: the same paginated object as the payments list."""
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        page = self.paginate_queryset(payment_events(payment=payment))
        return self.get_paginated_response(PaymentEventSerializer(page, many=True).data)

    @extend_schema(
        operation_id="payments.refund",
        tags=["payments"],
        request=RefundCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: RefundAnswerSerializer, 202: RefundAnswerSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def refund(self, request, payment_id: str):
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
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PaymentAnswerSerializer, **ERROR_RESPONSES},
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
        tags=["payments"],
        request=AmountOnlySerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PaymentAnswerSerializer, **ERROR_RESPONSES},
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
        tags=["payments"],
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PaymentAnswerSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, payment_id: str):
        """Cancels a payment that has not been captured."""
        payment = payment_get_for_client(client=request.auth, public_id=payment_id, with_refunds=False)
        payment = payment_cancel(payment=payment, actor=client_actor(request), reason="requested by client")
        return Response(payment_body(PaymentOutcome(payment=payment)))
