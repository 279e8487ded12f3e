"""Management commands of the foundation, run as operators run them."""

from io import StringIO

import pytest
from django.core.management import call_command

from payments.models import ApiClient
from payments.selectors import api_client_get_by_key

pytestmark = pytest.mark.django_db


def _call(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_client_prints_a_working_key_alone_on_the_last_line():
    output = _call("create_api_client", "shop-eu")

    raw_key = output.strip().splitlines()[-1]
    assert raw_key.startswith("gw_") and " " not in raw_key
    client = api_client_get_by_key(raw_key=raw_key)
    assert client is not None and client.name == "shop-eu"
    # Only the prefix and a hash are stored, never the key itself.
    assert raw_key not in {client.key_prefix, client.key_hash}
    assert client.key_prefix in raw_key


def test_rotating_a_client_revokes_the_previous_key_and_keeps_the_client():
    first = _call("create_api_client", "demo").strip().splitlines()[-1]
    client = api_client_get_by_key(raw_key=first)
    second = _call("create_api_client", "demo", "--rotate").strip().splitlines()[-1]

    assert api_client_get_by_key(raw_key=first) is None
    # The same client, with a new key: its payments and Idempotency-Keys stay its own.
    assert api_client_get_by_key(raw_key=second).pk == client.pk
    assert ApiClient.objects.filter(name="demo", is_active=True).count() == 1


def test_kafka_create_topics_reports_the_existing_topics(kafka_brokers):
    output = _call("kafka_create_topics")

    for topic in ("payment-events", "payment-success", "payment-failed", "payment-refunded"):
        assert topic in output
