import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.fast


def _preflight(origin):
    return APIClient().options(
        "/health",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )


def test_no_origin_is_allowed_by_default():
    response = _preflight("https://evil.example")

    assert "Access-Control-Allow-Origin" not in response


def test_a_configured_origin_is_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]

    allowed = _preflight("https://shop.example")
    other = _preflight("https://evil.example")

    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Origin" not in other
