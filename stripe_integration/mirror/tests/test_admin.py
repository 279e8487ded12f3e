"""The mirror's part of the payments' pages: its action, for whoever may sync
payments, and the link to the mirrored PaymentIntent."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import RequestFactory

from payments.models import Payment
from payments.services.operators import OPERATORS_GROUP
from stripe_integration.mirror.admin import djstripe_payment_intent_link

pytestmark = pytest.mark.django_db


def _actions_for(user) -> set[str]:
    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=user.pk)
    return set(admin.site._registry[Payment].get_actions(request))


def test_operators_get_the_mirror_action_and_a_viewer_does_not():
    operator = User.objects.create_user("olga", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    viewer = User.objects.create_user("vera", password="pw", is_staff=True)

    assert "mirror_into_djstripe" in _actions_for(operator)
    assert "mirror_into_djstripe" not in _actions_for(viewer)


def test_the_link_says_when_the_payment_is_not_mirrored_yet(pay):
    payment = Payment.objects.get(public_id=pay().json()["payment_id"])

    assert djstripe_payment_intent_link(payment) == ("dj-stripe PaymentIntent: not synced yet", None)
    assert djstripe_payment_intent_link(Payment(stripe_payment_intent_id="")) is None
