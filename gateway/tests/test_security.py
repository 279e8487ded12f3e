"""Who may call what, and what a refusal gives away.

Every /api/v1 operation in the OpenAPI schema is called without a key, with a
revoked key and with another client's key. The webhook is authenticated by
its Stripe signature instead (test_webhooks.py)."""

from __future__ import annotations

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import staff_login
from payments.models import Payment, PaymentEvent
from payments.services.api_clients import api_client_revoke
from payments.tests.factories import SucceededPaymentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.fast]

_SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in _SCHEMA["paths"].items()
    for method in item
    if path.startswith("/api/v1/") and path != "/api/v1/stripe/webhook"
)


def _call(client: APIClient, method: str, path: str, payment_id: str):
    url = re.sub(r"\{[a-z_]+\}", payment_id, path)  # {payment_id}, {id}, {endpoint_id}: any id
    return client.generic(method, url, "{}", content_type="application/json")


@pytest.fixture
def payment(merchant):
    """The merchant's payment, made in the database: these tests are about who may
    reach it, not about charging it."""
    return SucceededPaymentFactory(
        client=merchant,
        order_id="secret-order-42",
        description="secret description",
        stripe_payment_intent_id="pi_3SecretIntent42",
    )


def _error_without_id(response, payment_id: str) -> dict:
    """The error body, with the id the caller sent and the request id left out."""
    error = json.loads(response.content.decode().replace(payment_id, "<payment_id>"))["error"]
    return {**error, "request_id": None}


def test_every_api_operation_is_listed():
    assert len(OPERATIONS) >= 14
    assert ("POST", "/api/v1/payments/process") in OPERATIONS


@pytest.mark.reliability(
    "Security",
    "Every API operation: no key, revoked key: 401; another client's payment: 404, nothing leaked",
)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_a_key_every_operation_is_401(method, path, payment):
    response = _call(APIClient(), method, path, payment.public_id)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["type"] == "authentication_error"
    assert payment.public_id not in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.reliability(
    "Security",
    "Every API operation: no key, revoked key: 401; another client's payment: 404, nothing leaked",
)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_with_a_revoked_key_every_operation_is_401(method, path, payment, merchant, api):
    # The key worked (and is cached) until it was revoked.
    assert api.get(f"/api/v1/payments/{payment.public_id}").status_code == 200
    api_client_revoke(client=merchant)

    response = _call(api, method, path, payment.public_id)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["type"] == "authentication_error"
    assert payment.public_id not in response.content.decode()


@pytest.mark.reliability(
    "Security",
    "Every API operation: no key, revoked key: 401; another client's payment: 404, nothing leaked",
)
@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if "{" in op[1]])
def test_another_clients_payment_is_a_404_that_says_nothing(method, path, payment, other_api):
    response = _call(other_api, method, path, payment.public_id)
    unknown = _call(other_api, method, path, "pay_does_not_exist")

    assert response.status_code == 404, response.content
    text = response.content.decode()
    assert "secret-order-42" not in text and "secret description" not in text
    assert payment.stripe_payment_intent_id not in text
    # The same answer as for a payment that does not exist: nothing tells them apart.
    assert unknown.status_code == 404
    assert _error_without_id(response, payment.public_id) == _error_without_id(unknown, "pay_does_not_exist")
    assert Payment.objects.get(pk=payment.pk).status == "succeeded"
    assert not PaymentEvent.objects.filter(payment=payment).exists()


def test_the_payment_list_shows_only_the_callers_payments(payment, api, other_api):
    assert [p["payment_id"] for p in api.get("/api/v1/payments").json()["results"]] == [payment.public_id]
    assert other_api.get("/api/v1/payments").json()["results"] == []


@pytest.mark.reliability(
    "Security",
    "Admin behind staff login with CSRF; security headers; check --deploy clean",
)
def test_the_admin_needs_a_staff_login_and_a_csrf_token(client, django_user_model):
    assert client.get("/admin/payments/payment/").status_code == 302  # to the login page
    login = client.get("/admin/login/")
    assert "csrfmiddlewaretoken" in login.content.decode()
    django_user_model.objects.create_user("notstaff", password="pw-123456789")
    strict = type(client)(enforce_csrf_checks=True)
    refused = strict.post("/admin/login/", {"username": "notstaff", "password": "pw-123456789"})
    assert refused.status_code == 403  # no CSRF token
    client.force_login(django_user_model.objects.get(username="notstaff"))
    assert client.get("/admin/payments/payment/").status_code == 302  # not staff: back to login


@pytest.mark.reliability(
    "Security",
    "Admin behind staff login with CSRF; security headers; check --deploy clean",
)
@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/payments", "/health"])
def test_security_headers_are_set(client, path):
    response = client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def _login_attempt(ip: str, username: str, password: str):
    from django.test import Client

    return Client(REMOTE_ADDR=ip).post("/admin/login/", {"username": username, "password": password})


def _new_ip() -> str:
    import random

    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.mark.reliability(
    "Security hardening",
    "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
    "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
    "from; 15-minute idle session timeout",
)
def test_admin_logins_lock_out_a_username_from_one_address_only(django_user_model, settings):
    """django-axes locks the username-and-address pair: a stranger's wrong
    passwords lock the stranger, never the operator elsewhere, and never other
    operators behind the same address (gateway.mfa.lockout caps a username
    over all addresses)."""
    django_user_model.objects.create_user("olga", password="pw-right-987654", is_staff=True)
    django_user_model.objects.create_user("oscar", password="pw-right-123456", is_staff=True)
    limit = settings.AXES_FAILURE_LIMIT
    attacker = _new_ip()

    failures = [_login_attempt(attacker, "olga", "wrong").status_code for _ in range(limit)]
    locked_pair = _login_attempt(attacker, "olga", "pw-right-987654")
    olga_elsewhere = _login_attempt(_new_ip(), "olga", "pw-right-987654")
    oscar_same_address = _login_attempt(attacker, "oscar", "pw-right-123456")

    assert failures == [200] * (limit - 1) + [429]  # the form again, until the limit-th failure locks
    assert locked_pair.status_code == 429
    assert olga_elsewhere.status_code == 302  # signed in (on to the second factor)
    assert oscar_same_address.status_code == 302


@pytest.mark.reliability(
    "Security hardening",
    "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
    "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
    "from; 15-minute idle session timeout",
)
def test_an_idle_admin_session_ends_after_15_minutes(client, django_user_model, settings):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    staff = django_user_model.objects.create_superuser("idle", password="pw-idle-123456")
    staff_login(client, staff)
    assert client.get("/admin/").status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    assert session.expire_date - timezone.now() <= timedelta(minutes=15, seconds=5)  # slides on each request

    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))

    assert client.get("/admin/").status_code == 302  # back to the login page
    assert settings.SESSION_COOKIE_AGE == 900 and settings.SESSION_SAVE_EVERY_REQUEST
