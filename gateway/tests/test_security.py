"""Who may call what, and what a refusal gives away.

Every /api/v1 operation in the OpenAPI schema is called without a key, with a
revoked key and with another client's key. The webhook is authenticated by
its Stripe signature instead (test_webhooks.py)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from payments.services.api_clients import api_client_revoke

pytestmark = pytest.mark.django_db

_SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in _SCHEMA["paths"].items()
    for method in item
    if path.startswith("/api/v1/") and path != "/api/v1/stripe/webhook"
)


def _call(client: APIClient, method: str, path: str, payment_id: str):
    url = path.replace("{payment_id}", payment_id).replace("{id}", payment_id)
    return client.generic(method, url, "{}", content_type="application/json")


def test_every_api_operation_is_listed():
    assert len(OPERATIONS) >= 14
    assert ("POST", "/api/v1/payments/process") in OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_a_key_every_operation_is_401(method, path, pay):
    payment_id = pay().json()["payment_id"]

    response = _call(APIClient(), method, path, payment_id)

    assert response.status_code == 401, response.content
    assert response.json()["error"]["type"] == "authentication_error"
    assert payment_id not in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_with_a_revoked_key_every_operation_is_401(method, path, pay, merchant):
    payment_id = pay().json()["payment_id"]
    api_client_revoke(client=merchant)
    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")

    response = _call(revoked, method, path, payment_id)

    assert response.status_code == 401, response.content
    assert payment_id not in response.content.decode()


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if "{" in op[1]])
def test_another_clients_payment_is_a_404_that_says_nothing(method, path, pay, other_api):
    body = pay(order_id="secret-order-42", description="secret description").json()
    payment_id = body["payment_id"]

    response = _call(other_api, method, path, payment_id)

    assert response.status_code == 404, response.content
    text = response.content.decode()
    assert "secret-order-42" not in text and "secret description" not in text
    assert body["transaction_id"] not in text


def test_the_payment_list_shows_only_the_callers_payments(pay, other_api):
    pay(order_id="mine")
    assert other_api.get("/api/v1/payments").json()["results"] == []


def test_the_admin_needs_a_staff_login_and_a_csrf_token(client, django_user_model):
    assert client.get("/admin/payments/payment/").status_code == 302  # to the login page
    login = client.get("/admin/login/")
    assert "csrfmiddlewaretoken" in login.content.decode()
    django_user_model.objects.create_user("notstaff", password="pw-123456789")
    strict = type(client)(enforce_csrf_checks=True)
    refused = strict.post("/admin/login/", {"username": "notstaff", "password": "pw-123456789"})
    assert refused.status_code == 403  # no CSRF token
    client.login(username="notstaff", password="pw-123456789")
    assert client.get("/admin/payments/payment/").status_code == 302  # not staff: back to login


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/payments", "/health"])
def test_security_headers_are_set(client, path):
    response = client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
