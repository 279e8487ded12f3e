"""The API's lean path (issue #28): no browser middleware under /api/, and
JSON in and out through msgspec with money kept exact."""

import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ParseError

from gateway.core.parsers import DecimalJSONParser, JSONRenderer

pytestmark = pytest.mark.fast


@pytest.mark.django_db
def test_an_api_request_gets_no_session_csrf_or_django_user(merchant):
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "whatever"

    response = client.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")

    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session")  # SessionMiddleware did not run
    assert not hasattr(request, "_messages")  # nor MessageMiddleware
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


@pytest.mark.django_db
def test_the_admin_keeps_its_session_csrf_and_second_factor():
    client = Client(enforce_csrf_checks=True)

    page = client.get("/admin/login/")
    refused = client.post("/admin/login/", {"username": "x", "password": "y"})  # no CSRF token

    assert page.status_code == 200
    assert hasattr(page.wsgi_request, "session")
    assert hasattr(page.wsgi_request, "user") and hasattr(page.wsgi_request.user, "is_verified")  # django-otp
    assert "csrftoken" in page.cookies
    assert refused.status_code == 403


def _parse(body: bytes, encoding="utf-8"):
    return DecimalJSONParser().parse(io.BytesIO(body), parser_context={"encoding": encoding})


def test_numbers_with_a_fraction_are_decimal_and_integers_stay_integers():
    parsed = _parse(
        b'{"amount": 99.99, "tiny": 0.1, "e": 1e2, "n": 10, "big": 123456789012345678901234567890}'
    )

    assert parsed == {
        "amount": Decimal("99.99"),
        "tiny": Decimal("0.1"),
        "e": Decimal("100"),
        "n": 10,
        "big": 123456789012345678901234567890,
    }
    assert isinstance(parsed["amount"], Decimal) and isinstance(parsed["n"], int)


@pytest.mark.parametrize(
    "body", [b"NaN", b'{"a": Infinity}', b'{"a": 1,}', b'"\\ud800"', b"{", b"[" * 5000 + b"]" * 5000, b"\xff"]
)
def test_what_is_not_json_is_a_parse_error(body):
    with pytest.raises(ParseError):
        _parse(body)


def test_a_latin_1_body_is_read_as_latin_1():
    assert _parse('{"name": "Zoë"}'.encode("latin-1"), encoding="iso-8859-1") == {"name": "Zoë"}
    assert _parse(b"") == {}


def test_the_renderer_writes_decimals_exactly_and_what_drf_would_for_the_rest():
    body = JSONRenderer().render(
        {"amount": Decimal("19.99"), "lazy": gettext_lazy("Not found."), "line": "a\u2028b", "none": None}
    )

    assert body == b'{"amount":19.99,"lazy":"Not found.","line":"a\\u2028b","none":null}'
    assert JSONRenderer().render(None) == b""


def test_without_a_csrf_middleware_the_project_does_not_pass_its_checks(settings):
    from gateway.core.browser_only import csrf_middleware_check

    assert csrf_middleware_check() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("CsrfViewMiddleware")]
    assert [error.id for error in csrf_middleware_check()] == ["core.E001"]


def test_subclasses_of_str_are_written_as_their_text():
    from django.utils.safestring import SafeString
    from rest_framework.exceptions import ErrorDetail
    from rest_framework.utils.serializer_helpers import ReturnDict

    body = JSONRenderer().render(ReturnDict({"a": ErrorDetail("x"), "b": SafeString("y")}, serializer=None))

    assert body == b'{"a":"x","b":"y"}'
