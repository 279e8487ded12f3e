from rest_framework import serializers

from payments.serializers import ID_PATTERN, InputSerializer


class PaymentReferenceSerializer(InputSerializer):
    """{payment_id | order_id}, and the seed's email only together with one of them."""

    payment_id = serializers.RegexField(ID_PATTERN, required=False)
    order_id = serializers.CharField(max_length=128, required=False)
    email = serializers.EmailField(required=False)

    def validate(self, attrs):
        if not attrs.get("payment_id") and not attrs.get("order_id"):
            raise serializers.ValidationError({"payment_id": ["Send payment_id or order_id."]})
        return attrs


class OtpValidateSerializer(PaymentReferenceSerializer):
    otp = serializers.CharField(max_length=6, min_length=6, trim_whitespace=True)


class OtpSendResponseSerializer(serializers.Serializer):
    expires_in = serializers.IntegerField()
    resend_available_in = serializers.IntegerField()
