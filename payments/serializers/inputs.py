"""The API's input shapes: every body is refused field by field when it holds
what the endpoint does not take. Conversions at the edge only (amounts through
payments.money); no business rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gateway.core.errors import GatewayError
from gateway.core.schema import strict_request_component_register
from payments.enums import PaymentStatus
from payments.money import currency_normalize, to_minor_units
from payments.services.payments import PaymentInput

ID_PATTERN = r"^[A-Za-z0-9_\-:.]{1,64}$"
MAX_METADATA_KEYS = 50


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^\d+(\.\d+)?$",
        "example": "19.99",
        "description": 'Major units as a decimal string, e.g. "19.99". A JSON number (19.99) is accepted '
        "too, parsed as a decimal, never a float; more decimals than the currency has are refused.",
    }
)
class AmountField(serializers.Field):
    """An amount in major units, kept exact (Decimal or string) for payments.money."""

    def to_internal_value(self, data):
        if isinstance(data, (dict, list)):
            raise serializers.ValidationError("amount must be a number or a decimal string.")
        return data

    def to_representation(self, value):
        return value


class InputSerializer(serializers.Serializer):
    """A request body. A field it does not declare is refused with a 400
    `unknown_parameter` naming it, as Stripe does, instead of being dropped: a
    misspelt `capture_method` would otherwise capture at once, and a misspelt
    `amount` on a refund would refund everything. The schema says so too
    (`additionalProperties: false`, through gateway.core.schema)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        strict_request_component_register(cls.__name__.removesuffix("Serializer"))

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        unknown[0]: [
                            serializers.ErrorDetail(
                                f"Unknown parameter: {unknown[0]}. This endpoint takes "
                                f"{', '.join(self.fields)}.",
                                code="unknown_parameter",
                            )
                        ]
                    }
                )
        return super().to_internal_value(data)


def _raise_as_validation_error(exc: GatewayError) -> None:
    raise serializers.ValidationError(
        {exc.param or "amount": [serializers.ErrorDetail(exc.message, code=exc.code)]}
    )


class CardInputSerializer(InputSerializer):
    """The seed's raw card shape. Validated locally, tokenized at the PSP, never kept."""

    number = serializers.CharField(max_length=32, trim_whitespace=True)
    exp_month = serializers.CharField(max_length=4)
    exp_year = serializers.CharField(max_length=4)
    cvc = serializers.CharField(max_length=4)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address = serializers.DictField(required=False)


class MetadataField(serializers.DictField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=500, allow_blank=True), **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > MAX_METADATA_KEYS:
            raise serializers.ValidationError(f"metadata may have at most {MAX_METADATA_KEYS} keys.")
        if any(len(key) > 40 for key in value):
            raise serializers.ValidationError("metadata keys may have at most 40 characters.")
        return value


class PaymentProcessSerializer(InputSerializer):
    payment_id = serializers.RegexField(
        ID_PATTERN,
        required=False,
        help_text="Your id for the payment; unique per client. Generated (pay_…) when absent.",
    )
    order_id = serializers.CharField(max_length=128)
    amount = AmountField(help_text='Major units, as a number or a string: 99.99 or "99.99".')
    currency = serializers.CharField(
        max_length=8, trim_whitespace=False, help_text="ISO 4217, such as usd (USD is accepted)."
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    payment_method = serializers.RegexField(r"^pm_[A-Za-z0-9_]{1,250}$", required=False)
    token = serializers.RegexField(r"^tok_[A-Za-z0-9_]{1,250}$", required=False)
    card = CardInputSerializer(required=False)
    metadata = MetadataField(required=False)
    require_otp = serializers.BooleanField(required=False, default=False)
    return_url = serializers.URLField(required=False, max_length=2000)
    capture_method = serializers.ChoiceField(
        choices=["automatic", "manual"],
        required=False,
        default="automatic",
        help_text="manual: authorize now, capture later.",
        error_messages={"invalid_choice": '"{input}" is not automatic or manual.'},
    )
    confirm = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false: no payment method now; the payer gives the card in the browser (payment_url, "
        "or Stripe.js with client_secret). The answer is requires_payment_method.",
    )
    success_url = serializers.URLField(
        required=False, max_length=2000, help_text="Where the hosted page sends the payer once paid."
    )
    cancel_url = serializers.URLField(
        required=False, max_length=2000, help_text="Where the hosted page's cancel link goes."
    )
    expires_in = serializers.IntegerField(
        required=False,
        min_value=30,
        max_value=86400,
        help_text="Seconds (30 to 86400): a payment still waiting then (for the payer's card, a one-time "
        "code or 3-D Secure) is canceled with cancellation_reason expired.",
    )
    # `async` is a Python keyword; the field is declared in __init__.

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["async"] = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        sources = [name for name in ("payment_method", "token", "card") if attrs.get(name)]
        if attrs.get("confirm", True) and len(sources) != 1:
            raise serializers.ValidationError(
                {"payment_method": ["Send exactly one of payment_method, token or card (or confirm: false)."]}
            )
        for name in ("success_url", "cancel_url"):
            url = attrs.get(name, "")
            if url and not url.startswith("https://") and not settings.PAYMENT_REDIRECT_ALLOW_HTTP:
                raise serializers.ValidationError({name: [f"{name} must be an https:// URL."]})
        try:
            attrs["currency"] = currency_normalize(attrs["currency"])
            attrs["amount_minor"] = to_minor_units(attrs["amount"], attrs["currency"])
        except GatewayError as exc:
            _raise_as_validation_error(exc)
        return attrs

    def to_payment_input(self) -> PaymentInput:
        data = self.validated_data
        return PaymentInput(
            order_id=data["order_id"],
            amount_minor=data["amount_minor"],
            currency=data["currency"],
            public_id=data.get("payment_id", ""),
            description=data.get("description", ""),
            email=data.get("email", ""),
            metadata=data.get("metadata", {}),
            payment_method_id=data.get("payment_method", ""),
            token=data.get("token", ""),
            card=data.get("card"),
            require_otp=data["require_otp"],
            return_url=data.get("return_url", ""),
            capture_method=data["capture_method"],
            confirm=data["confirm"],
            success_url=data.get("success_url", ""),
            cancel_url=data.get("cancel_url", ""),
            expires_in=data.get("expires_in"),
        )


class PartialAmountMixin:
    """An optional `amount` in major units of a payment's currency, converted to
    minor units here, as the process serializer does: every input's amount is
    converted by its serializer, never by a view. None means "all of it"."""

    def amount_minor(self, currency: str) -> int | None:
        amount = self.validated_data.get("amount")
        return None if amount is None else to_minor_units(amount, currency)


class AmountOnlySerializer(PartialAmountMixin, InputSerializer):
    amount = AmountField(required=False, help_text="Major units; the whole amount when absent.")


class RefundCreateSerializer(PartialAmountMixin, InputSerializer):
    amount = AmountField(required=False, help_text="Major units; the whole remainder when absent.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PaymentListFilterSerializer(serializers.Serializer):
    """Filters of GET /payments. An unknown value is a 400, never silently ignored."""

    status = serializers.ChoiceField(
        choices=PaymentStatus.choices,
        required=False,
        error_messages={"invalid_choice": f'"{{input}}" is not one of {", ".join(PaymentStatus.values)}.'},
    )
    order_id = serializers.CharField(max_length=128, required=False)
    created_gte = serializers.CharField(required=False)
    created_lte = serializers.CharField(required=False)

    def _datetime(self, value: str) -> datetime:
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise serializers.ValidationError("Use an ISO 8601 date-time, e.g. 2026-11-27T10:00:00Z.")
        return timezone.make_aware(parsed, UTC) if timezone.is_naive(parsed) else parsed

    def validate_created_gte(self, value):
        return self._datetime(value)

    def validate_created_lte(self, value):
        return self._datetime(value)
