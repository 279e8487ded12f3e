"""Tables of the Stripe integration. Stripe's own objects are synced into
dj-stripe's tables; this app adds the webhook inbox."""

from __future__ import annotations

from django.db import models


class StripeWebhookEvent(models.Model):
    """Every delivery to POST /api/v1/stripe/webhook, stored raw before it is
    processed and outside the processing transaction. The unique event id makes
    a replayed event a no-op."""

    event_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    type = models.CharField(max_length=100, blank=True, db_index=True)
    livemode = models.BooleanField(default=False)
    payload = models.TextField()
    # Always true: a delivery with a bad signature is refused, never stored. Kept
    # as a column with a database default for one release (an older release's
    # INSERTs name it during a rolling deploy); nothing reads it. Drop it next.
    signature_valid = models.BooleanField(default=True, db_default=True, editable=False)
    processed = models.BooleanField(default=False, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "Stripe webhook event"
        permissions = [("reprocess_stripewebhookevent", "Can process Stripe webhook events again")]

    def __str__(self) -> str:
        return self.event_id or f"invalid delivery #{self.pk}"
