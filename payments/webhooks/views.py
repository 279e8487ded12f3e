"""The webhook endpoints API. Thin: parse, call one service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gateway.core.schema import IDEMPOTENCY_HEADER, error_responses
from payments.http import idempotent
from payments.views import PaymentCursorPagination
from payments.webhooks.models import DeliveryStatus
from payments.webhooks.selectors import (
    webhook_delivery_list,
    webhook_endpoint_get_for_client,
    webhook_endpoint_list,
)
from payments.webhooks.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointDeletedSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointWithSecretSerializer,
)
from payments.webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
)

TAG = "webhook_endpoints"


class WebhookEndpointViewSet(viewsets.GenericViewSet):
    serializer_class = WebhookEndpointSerializer
    lookup_url_kwarg = "endpoint_id"
    lookup_value_regex = r"[A-Za-z0-9_]{1,64}"
    pagination_class = PaymentCursorPagination

    @extend_schema(
        operation_id="webhook_endpoints.create",
        summary="Create a webhook endpoint",
        tags=[TAG],
        request=WebhookEndpointCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: WebhookEndpointWithSecretSerializer,
            **error_responses(400, 401, 409, 413, 415, 422, 429),
        },
    )
    @idempotent
    def create(self, request):
        """Creates an endpoint that receives the events it names, signed with its
        secret. The answer is the only one that shows the secret."""
        serializer = WebhookEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(client=request.auth, **serializer.validated_data)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=201)

    @extend_schema(
        operation_id="webhook_endpoints.list",
        summary="List your webhook endpoints",
        tags=[TAG],
        responses={200: WebhookEndpointSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def list(self, request):
        """Your endpoints, newest first (`limit`, `next`/`previous` links). Never their secrets."""
        page = self.paginate_queryset(webhook_endpoint_list(client=request.auth))
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints.retrieve",
        summary="Get a webhook endpoint",
        tags=[TAG],
        responses={200: WebhookEndpointSerializer, **error_responses(401, 404, 429)},
    )
    def retrieve(self, request, endpoint_id: str):
        """One of your endpoints; another client's is a 404, like an unknown one."""
        endpoint = webhook_endpoint_get_for_client(client=request.auth, public_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints.delete",
        summary="Delete a webhook endpoint",
        tags=[TAG],
        responses={200: WebhookEndpointDeletedSerializer, **error_responses(401, 404, 429)},
    )
    def destroy(self, request, endpoint_id: str):
        """Stops sending to the endpoint; its pending deliveries are failed."""
        endpoint = webhook_endpoint_get_for_client(client=request.auth, public_id=endpoint_id)
        webhook_endpoint_delete(endpoint=endpoint)
        return Response({"id": endpoint.public_id, "deleted": True})

    @extend_schema(
        operation_id="webhook_endpoints.rotate_secret",
        summary="Rotate a webhook endpoint's secret",
        tags=[TAG],
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: WebhookEndpointWithSecretSerializer,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429),
        },
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def rotate_secret(self, request, endpoint_id: str):
        """A new secret, shown in this answer only. The old one keeps signing
        beside it for 24 hours: two `v1,` signatures in webhook-signature."""
        endpoint = webhook_endpoint_get_for_client(client=request.auth, public_id=endpoint_id)
        endpoint = webhook_endpoint_rotate_secret(endpoint=endpoint)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints.deliveries",
        summary="The endpoint's deliveries",
        tags=[TAG],
        parameters=[OpenApiParameter("status", str, enum=DeliveryStatus.values)],
        responses={200: WebhookDeliverySerializer(many=True), **error_responses(400, 401, 404, 429)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, endpoint_id: str):
        """Each event sent or to send to the endpoint, newest first, with its
        last attempts: status, attempts, the last answer's code and time, the
        next retry (`limit`, `next`/`previous` links; `status` filters)."""
        endpoint = webhook_endpoint_get_for_client(client=request.auth, public_id=endpoint_id)
        deliveries = webhook_delivery_list(endpoint=endpoint, status=request.query_params.get("status"))
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
