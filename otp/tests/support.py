"""Helpers of the OTP tests."""

import re

from django.core import mail

from payments.models import PaymentEvent

EMAIL = "jane.doe@example.com"


def last_code() -> str:
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def validate(api, payment_id, code):
    return api.post("/api/v1/payments/validate", {"payment_id": payment_id, "otp": code}, format="json")


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def events_of(payment_id):
    return list(PaymentEvent.objects.filter(payment__public_id=payment_id).values_list("type", flat=True))
