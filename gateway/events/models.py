from __future__ import annotations

import uuid

from django.db import models


class OutboxEvent(models.Model):
    """One event to publish. Written in the transaction of the change it
    describes, so it exists exactly when the change does; relayed to Kafka
    after commit, and by the sweeper if that fails."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField(default=1)
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=64, help_text="The Kafka key: the payment id.")
    topics = models.JSONField(default=list)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    kafka_partition = models.IntegerField(null=True, blank=True)
    kafka_offset = models.BigIntegerField(null=True, blank=True)
    # When the row was handed to the other consumers of events (webhooks to
    # merchants, payments.webhooks); null until then. Independent of Kafka.
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # The relay shard (a hash of aggregate_id, gateway.events.wake): one
    # relay per shard, so that relays scale out and a payment's events, all in
    # one shard, keep their order. A database default: the previous release
    # inserts rows without it during a rolling deploy (shard 0).
    shard = models.PositiveSmallIntegerField(default=0, db_default=0)
    # The W3C trace context of the request that wrote the row (empty without
    # tracing), carried into the Kafka message's headers by the relay.
    traceparent = models.CharField(max_length=55, blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]
        db_table = "gateway_outboxevent"  # its name from before the app had its own label
        indexes = [
            models.Index(fields=["published_at", "id"], name="gateway_out_publish_a5769f_idx"),
            models.Index(fields=["shard", "published_at", "id"], name="gateway_out_shard_idx"),
            models.Index(fields=["aggregate_id", "id"], name="gateway_out_aggrega_a6c805_idx"),
            models.Index(fields=["fanned_out_at", "id"], name="gateway_out_fanned_idx"),
        ]
        verbose_name = "outbox event"
        permissions = [("publish_outboxevent", "Can publish pending outbox events now")]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate_id}"
