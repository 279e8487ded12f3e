"""The error family, the exception handler, the JSON parser and API-key auth.

These use a small view defined here, so that the cross-cutting pieces are
tested on their own, before any business endpoint exists.
"""

from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from gateway.core.errors import CardDeclined
from payments.services.api_clients import api_client_create, api_client_revoke


class _EchoSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=20, decimal_places=4)


class _ProbeView(APIView):
    def get(self, request):
        return Response({"client": request.auth.name})

    def post(self, request):
        mode = request.query_params.get("mode")
        if mode == "decline":
            raise CardDeclined(code="card_declined", extra={"decline_code": "insufficient_funds"})
        if mode == "crash":
            raise RuntimeError("secret internal detail 4242424242424242")
        serializer = _EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = request.data["amount"]
        return Response({"type": type(raw).__name__, "amount": str(raw)})


urlpatterns = [path("probe", _ProbeView.as_view())]


@pytest.fixture
def client_and_key():
    return api_client_create(name="merchant")


@pytest.fixture
def api(client_and_key):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {client_and_key[1]}")
    return api


pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__), pytest.mark.fast]


def _assert_error_body(response, status, code):
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response["X-Request-ID"]
    assert set(error) >= {"type", "code", "message", "param", "request_id"}
    return error


def test_request_without_a_key_is_401_with_the_error_body():
    response = APIClient().get("/probe")

    error = _assert_error_body(response, 401, "invalid_api_key")
    assert error["type"] == "authentication_error"


def test_request_with_a_wrong_key_is_401(client_and_key):
    client, raw_key = client_and_key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key[:-4]}abcd")

    _assert_error_body(api.get("/probe"), 401, "invalid_api_key")


def test_request_with_a_revoked_key_is_401(client_and_key, api):
    api_client_revoke(client=client_and_key[0])

    _assert_error_body(api.get("/probe"), 401, "invalid_api_key")


def test_request_with_a_valid_key_is_the_client(api):
    response = api.get("/probe")

    assert response.status_code == 200
    assert response.json() == {"client": "merchant"}


def test_json_numbers_arrive_as_decimal_not_float(api):
    response = api.post("/probe", data='{"amount": 19.99}', content_type="application/json")

    assert response.status_code == 200, response.json()
    assert response.json() == {"type": "Decimal", "amount": "19.99"}
    assert Decimal(response.json()["amount"]) * 100 == 1999


@pytest.mark.parametrize("body", ['{"amount": NaN}', '{"amount": Infinity}', '{"amount": 1', "not json"])
def test_invalid_json_is_400_invalid_request(api, body):
    response = api.post("/probe", data=body, content_type="application/json")

    error = _assert_error_body(response, 400, "invalid_request")
    assert error["type"] == "invalid_request_error"


def test_validation_error_names_the_field(api):
    response = api.post("/probe", data={"amount": "abc"}, format="json")

    error = _assert_error_body(response, 400, "invalid_request")
    assert error["param"] == "amount"


def test_non_json_content_type_is_415(api):
    response = api.post("/probe", data="amount=1", content_type="application/x-www-form-urlencoded")

    _assert_error_body(response, 415, "unsupported_media_type")


def test_card_decline_is_402_with_the_decline_code(api):
    response = api.post("/probe?mode=decline", data={}, format="json")

    error = _assert_error_body(response, 402, "card_declined")
    assert error["type"] == "card_error"
    assert error["decline_code"] == "insufficient_funds"


def test_unexpected_error_is_a_generic_500_that_leaks_nothing(api):
    response = api.post("/probe?mode=crash", data={}, format="json")

    error = _assert_error_body(response, 500, "internal_error")
    assert "secret" not in error["message"]
    assert "4242" not in response.content.decode()


@override_settings(ROOT_URLCONF="gateway.urls")
def test_unknown_path_is_a_json_404():
    response = APIClient().get("/no/such/path")

    _assert_error_body(response, 404, "resource_missing")
