"""Merchants' webhook endpoints and the deliveries of events to them."""

from __future__ import annotations

from django.db import models


class EndpointStatus(models.TextChoices):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookEndpoint(models.Model):
    """A URL of one API client's, and the events it wants. The secret signs
    every delivery; it is shown to the client once (create, rotate)."""

    public_id = models.CharField(max_length=32, unique=True)
    client = models.ForeignKey(
        "payments.ApiClient", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=500, blank=True)
    events = models.JSONField(default=list, help_text='Event types: "*", "payment.succeeded", "refund.*".')
    status = models.CharField(max_length=16, choices=EndpointStatus.choices, default=EndpointStatus.ENABLED)
    secret = models.CharField(max_length=64)
    # The secret before the last rotation, which still signs until it expires.
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The first failure of the current unbroken run of failures; cleared by a success.
    failing_since = models.DateTimeField(null=True, blank=True)
    # After a failed attempt, the endpoint's other deliveries wait until then.
    backoff_until = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Deleted through the API: hidden from it and sent nothing more; kept for the delivery log.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["client", "status"], name="webhooks_endpoint_client_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: its state and its last attempts. The body
    is the outbox row's payload, serialized as the Kafka relay does."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    outbox_event = models.ForeignKey("events.OutboxEvent", on_delete=models.CASCADE, related_name="+")
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # The last attempts, newest last: [{at, status_code, duration_ms, error}] (at most ten).
    attempt_history = models.JSONField(default=list, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhooks_delivery_once_per_event")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhooks_delivery_due_idx"),
            models.Index(fields=["endpoint", "status", "id"], name="webhooks_delivery_endpoint_idx"),
        ]
        permissions = [("resend_webhookdelivery", "Can resend webhook deliveries")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to {self.endpoint_id}"
