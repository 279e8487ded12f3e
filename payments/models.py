"""Payments tables. Only fields, constraints and small derived properties here;
logic lives in services/ and reads in selectors.py."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from payments.enums import ConfirmationMethod, EventType, PaymentStatus, RefundReason, RefundStatus
from payments.fields import MinorUnitsField
from payments.money import format_amount


class ApiClient(models.Model):
    """A merchant back end allowed to call the API.

    The raw key is shown once, at creation. Only its prefix (for lookup and
    display) and a SHA-256 hash are stored.
    """

    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API client"
        ordering = ["name"]
        permissions = [("revoke_apiclient", "Can revoke API keys")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    # DRF treats request.user as the principal; an ApiClient is one.
    is_authenticated = True
    is_anonymous = False

    @property
    def rate_limit_identity(self) -> str:
        """What the ground's rate limits count this client's requests under."""
        return f"client:{self.key_prefix}"


class RandomUUIDHex(models.Func):
    """A new random uuid, as the 32 hex digits a UUIDField keeps, made by the
    database: the default of a uuid column for rows that an older release
    inserts without naming it (a rolling deploy)."""

    output_field = models.UUIDField()

    def as_sql(self, compiler, connection, **extra_context):  # SQLite
        return "(lower(hex(randomblob(16))))", []

    def as_mysql(self, compiler, connection, **extra_context):
        return "(REPLACE(UUID(), '-', ''))", []


class Payment(models.Model):
    """One payment of one client. Card data is never stored: only a summary
    (brand, last4, expiry, fingerprint) and the PSP's PaymentMethod id."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    public_id = models.CharField("payment id", max_length=64)
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="payments")
    order_id = models.CharField(max_length=128)
    amount_minor = MinorUnitsField()
    currency = models.CharField(max_length=3)
    # What the PSP captured, and what refunds not failed have taken (pending
    # ones included, so that concurrent refunds cannot exceed the capture).
    captured_minor = MinorUnitsField(default=0)
    refunded_minor = MinorUnitsField(default=0)
    # How many refund rows the payment has, failed ones included: a read of a
    # payment with none (and nothing refunded) skips the query for its refunds
    # (issue #16). A database default too, so that an older release's INSERTs,
    # which do not name it, still work during a rolling deploy.
    refund_count = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    status = models.CharField(max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    email = models.EmailField(blank=True)

    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    card_fingerprint = models.CharField(max_length=64, blank=True)

    payment_method_id = models.CharField(max_length=255, blank=True)
    capture_method = models.CharField(
        max_length=16,
        default="automatic",
        db_default="automatic",
        choices=[("automatic", "automatic"), ("manual", "manual")],
    )
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    next_action = models.JSONField(null=True, blank=True)
    # Where the payer returns after 3-D Secure: kept, so that a charge sent again
    # (a retry, reconciliation) has the same parameters as the first under its key.
    return_url = models.URLField(max_length=2000, blank=True, db_default="")
    # `client` when created with `confirm: false`: the payer gives the card.
    confirmation_method = models.CharField(
        max_length=8, choices=ConfirmationMethod.choices, default="server", db_default="server"
    )
    # Where the hosted payment page sends the payer (https in production).
    success_url = models.URLField(max_length=2000, blank=True, db_default="")
    cancel_url = models.URLField(max_length=2000, blank=True, db_default="")
    # `expires_in`: canceled at this time if still waiting (EXPIRABLE_STATUSES).
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Why it was canceled: `expired`, `requested` (the merchant), or empty.
    cancellation_reason = models.CharField(max_length=32, blank=True, db_default="")
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    # Why reconciliation could not settle this payment on its own (for example,
    # past the PSP's idempotency window it found no PaymentIntent, or several).
    # Empty when nothing needs an operator; shown in the admin and /metrics.
    review_reason = models.CharField(max_length=200, blank=True, db_default="")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "public_id"], name="payment_public_id_unique_per_client"
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_minor__gte=0) & Q(refunded_minor__lte=models.F("captured_minor")),
                name="payment_refunds_within_capture",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "order_id"]),
            models.Index(fields=["client", "status"]),
        ]
        permissions = [
            ("refund_payment", "Can refund payments"),
            ("sync_payment", "Can sync payments from the PSP (reconciliation)"),
            ("view_overview_payment", "Can view the payments overview"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor

    @property
    def amount(self) -> str:
        return format_amount(self.amount_minor, self.currency)


class Refund(models.Model):
    public_id = models.CharField("refund id", max_length=64, unique=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = MinorUnitsField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    reason = models.CharField(max_length=32, choices=RefundReason.choices, blank=True)
    reason_text = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=150)
    stripe_refund_id = models.CharField(max_length=255, blank=True, db_index=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return self.public_id

    @property
    def amount(self) -> str:
        return format_amount(self.amount_minor, self.currency)


class PaymentEvent(models.Model):
    """The append-only timeline of a payment: what happened, and who did it."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=32, choices=EventType.choices)
    actor = models.CharField(max_length=150)
    status_before = models.CharField(max_length=32, blank=True)
    status_after = models.CharField(max_length=32, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.payment_id}:{self.type}"


class IdempotencyKey(models.Model):
    """One Idempotency-Key of one client. The unique constraint, not memory, is
    what makes two processes receiving the same key at once charge only once.

    `operation_uuid` names what the request creates: the payment's uuid (and so
    its PSP idempotency key), or the seed of the refund's id. A retry after a
    5xx takes the same record over, so it reaches the same payment or refund and
    the same PSP operation, never a second one. `locked_until` is the claim's
    lease: a claim left by a process that died is taken over after it; a record
    with no lease (claimed by a release before leases) is held for one lease
    from its creation."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        COMPLETED = "completed"

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    operation_uuid = models.UUIDField(default=uuid.uuid4, db_default=RandomUUIDHex(), editable=False)
    locked_until = models.DateTimeField(null=True, blank=True)
    # Which claim holds the record now: a new token at each claim and take-over.
    # Completing or releasing is fenced by it, so a request whose lease ran out
    # (and whose key another attempt took over) can neither overwrite the
    # answer nor end the new holder's lease.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_unique_per_client")
        ]

    def __str__(self) -> str:
        return self.key
