"""Test data built directly, for tests of services, selectors, the admin and
reconciliation: no HTTP, no PSP. The API's own tests go through HTTP."""

from __future__ import annotations

import factory

from payments.enums import PaymentStatus
from payments.models import ApiClient, Payment
from payments.services.api_clients import api_client_create


class ApiClientFactory(factory.django.DjangoModelFactory):
    """An API client with a working key (its raw key on `.raw_key`)."""

    class Meta:
        model = ApiClient

    name = factory.Sequence(lambda n: f"merchant-{n}")

    @classmethod
    def _create(cls, model_class, *args, name: str = "merchant", **kwargs):
        client, raw_key = api_client_create(name=name)
        client.raw_key = raw_key
        return client


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment as recorded, `pending` and never sent to the PSP unless told
    otherwise (`status=`, `stripe_payment_intent_id=`, `captured_minor=`…)."""

    class Meta:
        model = Payment

    client = factory.SubFactory(ApiClientFactory)
    public_id = factory.Sequence(lambda n: f"pay_factory{n:06d}")
    order_id = factory.Sequence(lambda n: f"order-{n}")
    amount_minor = 1999
    currency = "usd"
    status = PaymentStatus.PENDING
    payment_method_id = "pm_card_visa"


class SucceededPaymentFactory(PaymentFactory):
    status = PaymentStatus.SUCCEEDED
    captured_minor = factory.SelfAttribute("amount_minor")
    card_brand = "visa"
    card_last4 = "4242"
