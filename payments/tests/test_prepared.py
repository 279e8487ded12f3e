"""gateway.core.prepared: the hot reads compiled once give what the ORM gives."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.models import Payment
from payments.selectors import payment_get_for_client
from payments.tests.factories import PaymentFactory, SucceededPaymentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.mark.parametrize("factory", [PaymentFactory, SucceededPaymentFactory])
def test_a_prepared_read_equals_the_orms_field_by_field(factory):
    payment = factory(metadata={"cart": "42", "note": "é"}, description="")
    if payment.status == "succeeded":
        payment.refunds.create(
            public_id=f"re_{payment.pk}",
            amount_minor=100,
            currency=payment.currency,
            status="succeeded",
            reason="duplicate",
            actor="test",
        )
        Payment.objects.filter(pk=payment.pk).update(refund_count=1)  # as the refund service counts it

    with CaptureQueriesContext(connection) as queries:
        prepared = payment_get_for_client(client=payment.client, public_id=payment.public_id)
        refunds = list(prepared.refunds.all())
    orm = Payment.objects.prefetch_related("refunds").get(pk=payment.pk)

    # The payment, and its refunds when its row counts any; .all() reads none.
    assert len(queries) == (2 if payment.status == "succeeded" else 1)
    assert _fields(prepared) == _fields(orm)
    assert [_fields(r) for r in refunds] == [_fields(r) for r in orm.refunds.all()]
    assert all(refund.payment is prepared for refund in refunds)
    assert prepared._state.adding is False and prepared._state.db == "default"


def test_another_clients_payment_is_not_found(merchant):
    from gateway.core.errors import NotFound

    payment = PaymentFactory()
    with pytest.raises(NotFound):
        payment_get_for_client(client=merchant, public_id=payment.public_id)
