"""Operators' commands for API clients: list them (never a key), revoke one by its prefix."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_list_shows_prefixes_and_states_never_a_key(merchant, other_api):
    out = StringIO()
    call_command("list_api_clients", stdout=out)

    assert merchant.key_prefix in out.getvalue() and "active" in out.getvalue()
    assert merchant.raw_key not in out.getvalue()


def test_revoke_by_prefix_stops_the_key_at_once(merchant, redis_client):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")
    assert api.get("/api/v1/payments").status_code == 200  # cached now

    out = StringIO()
    call_command("revoke_api_client", f"gw_{merchant.key_prefix}", stdout=out)
    listed = StringIO()
    call_command("list_api_clients", "--active", stdout=listed)

    assert f"Revoked merchant ({merchant.key_prefix})" in out.getvalue()
    assert api.get("/api/v1/payments").status_code == 401
    assert merchant.key_prefix not in listed.getvalue()
    with pytest.raises(CommandError):
        call_command("revoke_api_client", "gw_nosuchprefix")
