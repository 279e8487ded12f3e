"""stripe_local_bootstrap makes the dj-stripe rows localstripe cannot provide."""

from io import StringIO

import pytest
from django.core.management import call_command
from djstripe.models import Account, APIKey, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_stripe_local_bootstrap_is_idempotent(localstripe):
    first = _call("stripe_local_bootstrap")
    second = _call("stripe_local_bootstrap", "--webhook-url", "http://127.0.0.1:9999/hook")

    assert "account created" in first or "account exists" in first
    assert "account exists, api key exists" in second
    assert Account.objects.filter(id="acct_localstripe").count() == 1
    assert APIKey.objects.filter(livemode=False).count() == 1
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.url == "http://127.0.0.1:9999/hook"
