"""Shapes of the Stripe endpoints (the seed's)."""

from __future__ import annotations

from rest_framework import serializers

from payments.serializers import (
    ID_PATTERN,
    AmountField,
    CardInputSerializer,
    InputSerializer,
    PartialAmountMixin,
)


class ValidateCardRequestSerializer(InputSerializer):
    card = CardInputSerializer()


class CardErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class ValidateCardResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    brand = serializers.CharField()
    last4 = serializers.CharField()
    errors = CardErrorSerializer(many=True)
    card_type = serializers.CharField(help_text="The seed's name for brand.")
    message = serializers.CharField(help_text="The seed's summary line.")


class StripeRefundSerializer(PartialAmountMixin, InputSerializer):
    payment_id = serializers.RegexField(ID_PATTERN)
    amount = AmountField(required=False, help_text="Major units; the whole remainder when absent.")
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="duplicate, fraudulent, requested_by_customer, or free text.",
    )
