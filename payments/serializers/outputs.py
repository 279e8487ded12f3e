"""The API's output shapes: a payment, a refund, a timeline entry."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments.models import Payment, PaymentEvent, Refund
from payments.money import format_amount

# Rendering responses field by field through DRF's ModelSerializer cost about
# 3 ms per payment here (fields are rebuilt by introspection for every
# instance; measured with scripts/profile_payment.py). The two output
# serializers below render with a plain dict instead; DRF's generic rendering
# stays the reference (`generic_representation`), and a test checks that both
# give the same output for payments in every shape.
_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    return _DATETIME.to_representation(value) if value is not None else None


class _FastOutputMixin:
    def generic_representation(self, instance) -> dict:
        return super().to_representation(instance)


class RefundSerializer(_FastOutputMixin, serializers.ModelSerializer):
    refund_id = serializers.CharField(source="public_id")
    amount = serializers.CharField()

    class Meta:
        model = Refund
        fields = [
            "refund_id",
            "status",
            "amount",
            "amount_minor",
            "currency",
            "reason",
            "reason_text",
            "stripe_refund_id",
            "failure_code",
            "created_at",
        ]

    def to_representation(self, refund: Refund) -> dict:
        return {
            "refund_id": refund.public_id,
            "status": refund.status,
            "amount": refund.amount,
            "amount_minor": refund.amount_minor,
            "currency": refund.currency,
            "reason": refund.reason,
            "reason_text": refund.reason_text,
            "stripe_refund_id": refund.stripe_refund_id,
            "failure_code": refund.failure_code,
            "created_at": _datetime(refund.created_at),
        }


class CardSummarySerializer(serializers.Serializer):
    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


class PaymentSerializer(_FastOutputMixin, serializers.ModelSerializer):
    payment_id = serializers.CharField(source="public_id")
    amount = serializers.CharField(help_text='Major units as a decimal string, e.g. "99.99".')
    refundable_minor = serializers.IntegerField()
    refunded_amount = serializers.SerializerMethodField()
    card = serializers.SerializerMethodField()
    transaction_id = serializers.CharField(
        source="stripe_payment_intent_id", help_text="The Stripe PaymentIntent id (the seed's name)."
    )
    payment_method = serializers.CharField(source="payment_method_id")
    created = serializers.SerializerMethodField(help_text="Unix time, as the seed answered.")
    refunds = RefundSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "payment_id",
            "order_id",
            "status",
            "amount",
            "amount_minor",
            "currency",
            "captured_minor",
            "refunded_minor",
            "refundable_minor",
            "refunded_amount",
            "description",
            "metadata",
            "email",
            "card",
            "transaction_id",
            "capture_method",
            "payment_method",
            "next_action",
            "failure_code",
            "failure_message",
            "confirmation_method",
            "expires_at",
            "cancellation_reason",
            "refunds",
            "created",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, payment: Payment) -> dict:
        refund = RefundSerializer()
        return {
            "payment_id": payment.public_id,
            "order_id": payment.order_id,
            "status": payment.status,
            "amount": payment.amount,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "captured_minor": payment.captured_minor,
            "refunded_minor": payment.refunded_minor,
            "refundable_minor": payment.refundable_minor,
            "refunded_amount": self.get_refunded_amount(payment),
            "description": payment.description,
            "metadata": payment.metadata,
            "email": payment.email,
            "card": self.get_card(payment),
            "transaction_id": payment.stripe_payment_intent_id,
            "capture_method": payment.capture_method,
            "payment_method": payment.payment_method_id,
            "next_action": payment.next_action,
            "failure_code": payment.failure_code,
            "failure_message": payment.failure_message,
            "confirmation_method": payment.confirmation_method,
            "expires_at": _datetime(payment.expires_at),
            "cancellation_reason": payment.cancellation_reason,
            "refunds": [refund.to_representation(r) for r in payment.refunds.all()],
            "created": self.get_created(payment),
            "created_at": _datetime(payment.created_at),
            "updated_at": _datetime(payment.updated_at),
        }

    def get_refunded_amount(self, payment) -> str:
        return format_amount(payment.refunded_minor, payment.currency)

    @extend_schema_field(CardSummarySerializer(allow_null=True))
    def get_card(self, payment):
        if not payment.card_last4:
            return None
        return {
            "brand": payment.card_brand,
            "last4": payment.card_last4,
            "exp_month": payment.card_exp_month,
            "exp_year": payment.card_exp_year,
        }

    def get_created(self, payment) -> int:
        return int(payment.created_at.timestamp())


class PaymentAnswerSerializer(PaymentSerializer):
    """A payment as answered by the endpoints that act on it (process, confirm,
    capture, cancel, OTP validate, the seed's /stripe/payment): the payment,
    plus what the PSP gave for this answer only. Rendered by payments.http.payment_body."""

    client_secret = serializers.CharField(
        required=False,
        help_text="Only in the first answer to a payment that needs the payer (3-D Secure): "
        "never stored, so never in a replay.",
    )
    receipt_url = serializers.URLField(allow_null=True, help_text="The PSP's receipt, when it has one.")
    publishable_key = serializers.CharField(
        required=False,
        help_text="With requires_payment_method: the PSP key for Stripe.js in the payer's browser.",
    )
    payment_url = serializers.URLField(
        required=False,
        help_text="With requires_payment_method: the hosted payment page (a signed, expiring link) to send "
        "the payer to.",
    )

    class Meta(PaymentSerializer.Meta):
        fields = [
            *PaymentSerializer.Meta.fields,
            "client_secret",
            "receipt_url",
            "publishable_key",
            "payment_url",
        ]


class RefundAnswerSerializer(RefundSerializer):
    """A refund as answered by the refund endpoints: with its payment as it is now."""

    payment = PaymentSerializer(read_only=True)

    class Meta(RefundSerializer.Meta):
        fields = [*RefundSerializer.Meta.fields, "payment"]


class PaymentStatusSerializer(serializers.ModelSerializer):
    payment_id = serializers.CharField(source="public_id")

    class Meta:
        model = Payment
        fields = ["payment_id", "order_id", "status"]


class PaymentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = PaymentEvent
        fields = ["type", "actor", "status_before", "status_after", "data", "request_id", "created_at"]
