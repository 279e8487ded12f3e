"""Input and output shapes of the webhook endpoints API. No logic."""

from __future__ import annotations

from rest_framework import serializers

from payments.serializers import InputSerializer
from payments.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.services import MAX_EVENTS_PER_ENDPOINT


class WebhookEndpointCreateSerializer(InputSerializer):
    url = serializers.CharField(
        max_length=2048, help_text="https:// (http and local addresses in development only)."
    )
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        min_length=1,
        max_length=MAX_EVENTS_PER_ENDPOINT,
        help_text='Event types: "*", a type such as "payment.succeeded", or a prefix such as "refund.*".',
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class WebhookEndpointSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=EndpointStatus.choices)
    events = serializers.ListField(child=serializers.CharField())
    created = serializers.SerializerMethodField(help_text="Unix time.")

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "status",
            "failing_since",
            "disabled_reason",
            "created",
            "created_at",
        ]

    def get_created(self, endpoint) -> int:
        return int(endpoint.created_at.timestamp())


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """The answer to a creation or a rotation: the only ones that show the secret."""

    secret = serializers.CharField(help_text="whsec_…: keep it; it is not shown again.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointDeletedSerializer(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class WebhookAttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    # A string, not an enum in the schema: its values are a refund's, and
    # drf-spectacular would name it RefundStatusEnum.
    status = serializers.CharField(help_text=f"{', '.join(DeliveryStatus.values)}.")
    attempt_history = WebhookAttemptSerializer(many=True, help_text="The last attempts, oldest first.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "last_duration_ms",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "attempt_history",
        ]
