"""Hostile input: each case gets a clear 4xx in the standard error body, and
nothing is recorded. (Schemathesis, in test_fuzz_schema.py, covers the rest
of the input space.)"""

from __future__ import annotations

import json

import pytest

from payments.models import IdempotencyKey, Payment
from payments.tests.fixtures import payment_body

pytestmark = pytest.mark.django_db

PROCESS = "/api/v1/payments/process"


def _raw(api, body: bytes | str, content_type="application/json", **headers):
    return api.generic("POST", PROCESS, body, content_type=content_type, **headers)


def _assert_refused(response, status: int, code: str | None = None):
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["message"] and error["request_id"]
    if code:
        assert error["code"] == code, error
    assert Payment.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0
    assert "Traceback" not in response.content.decode()


@pytest.mark.reliability("Bad input", "Malformed JSON, non-UTF-8, non-object bodies: 400, nothing recorded")
@pytest.mark.parametrize(
    "body",
    [b"{", b'{"order_id": "o1",}', b"\xff\xfe not utf-8", b"null", b"[]", b'"a string"', b"{'single': 1}"],
)
def test_malformed_json_is_400(api, body):
    _assert_refused(_raw(api, body), 400)


@pytest.mark.reliability("Bad input", "Wrong content types: 415")
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"],
)
def test_a_wrong_content_type_is_415(api, content_type):
    _assert_refused(_raw(api, json.dumps(payment_body()), content_type=content_type), 415)


@pytest.mark.reliability("Bad input", "Body over the 64 KiB cap: 413")
def test_a_huge_body_is_413(api, settings):
    body = json.dumps(payment_body(description="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)))
    _assert_refused(_raw(api, body), 413)


# 100,000 levels is a body over the request cap, refused before it is parsed.
@pytest.mark.reliability("Bad input", "Deeply nested JSON: 400 (or 413 over the cap)")
@pytest.mark.parametrize(("depth", "status"), [(50, 400), (5000, 400), (100_000, 413)])
def test_deeply_nested_json_is_refused(api, depth, status):
    body = (
        '{"order_id": "o1", "amount": "1.00", "currency": "usd", "metadata": '
        + "[" * depth
        + "]" * depth
        + "}"
    )
    _assert_refused(_raw(api, body), status)


@pytest.mark.reliability(
    "Bad input",
    "Amounts 1e400, NaN, Infinity, -0, 0.1+0.2, 20 digits, 3 decimals: 400 with a code",
)
@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1e400", "invalid_amount"),
        ("NaN", "invalid_amount"),
        ("Infinity", "invalid_amount"),
        ("-0", "invalid_amount"),
        ("0.1+0.2", "invalid_amount"),
        ("99999999999999999999", "amount_too_large"),
        ("19.999", "amount_too_precise"),
        ("", "invalid_amount"),
        (None, None),
    ],
)
def test_hostile_amounts_are_400(api, amount, code):
    body = payment_body(card=None, payment_method="pm_card_visa")
    body["amount"] = amount
    _assert_refused(api.post(PROCESS, body, format="json"), 400, code)


@pytest.mark.reliability(
    "Bad input",
    "Amounts 1e400, NaN, Infinity, -0, 0.1+0.2, 20 digits, 3 decimals: 400 with a code",
)
@pytest.mark.parametrize(
    "raw",
    [
        b'{"order_id":"o1","amount":1e400,"currency":"usd","payment_method":"pm_card_visa"}',
        b'{"order_id":"o1","amount":NaN,"currency":"usd","payment_method":"pm_card_visa"}',
        b'{"order_id":"o1","amount":-0,"currency":"usd","payment_method":"pm_card_visa"}',
    ],
)
def test_hostile_json_numbers_are_400(api, raw):
    _assert_refused(_raw(api, raw), 400)


@pytest.mark.reliability("Bad input", "Currency `usd ` (trailing space) refused, `USD` normalised to `usd`")
def test_currency_with_a_space_is_refused_and_upper_case_is_normalised(api, localstripe):
    body = payment_body(card=None, payment_method="pm_card_visa")
    _assert_refused(api.post(PROCESS, {**body, "currency": "usd "}, format="json"), 400)
    upper = api.post(PROCESS, {**body, "currency": "USD"}, format="json")
    assert upper.status_code == 201 and upper.json()["currency"] == "usd"


@pytest.mark.reliability("Bad input", "Idempotency-Key of 10,000 characters: 400")
def test_a_10000_character_idempotency_key_is_400(api):
    response = api.post(
        PROCESS,
        payment_body(card=None, payment_method="pm_card_visa"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 10_000,
    )
    _assert_refused(response, 400, "invalid_idempotency_key")


@pytest.mark.reliability("Bad input", "Unicode in every string field: kept exactly")
def test_unicode_in_every_string_field_is_kept_exactly(api, localstripe):
    text = "Zoë 🧾 ✓ 中文 \u202e ﷽"
    body = payment_body(
        card=None,
        payment_method="pm_card_visa",
        order_id=f"order {text}"[:64],
        description=f"desc {text}",
        metadata={"note": text},
    )
    response = api.post(PROCESS, body, format="json")

    assert response.status_code == 201, response.json()
    payment = Payment.objects.get()
    assert (payment.order_id, payment.description, payment.metadata) == (
        body["order_id"],
        body["description"],
        {"note": text},
    )
    assert response.json()["description"] == body["description"]


@pytest.mark.reliability(
    "Bad input",
    "SQL and HTML in order_id and description: stored as text, escaped in the admin",
)
@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE payments_payment; --",
        '" OR 1=1 --',
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
    ],
)
def test_sql_and_html_in_order_id_and_description_are_plain_text(api, admin_client, localstripe, text):
    response = api.post(
        PROCESS,
        payment_body(card=None, payment_method="pm_card_visa", order_id=text[:64], description=text),
        format="json",
    )

    assert response.status_code == 201, response.json()
    payment = Payment.objects.get()
    assert (payment.order_id, payment.description) == (text[:64], text)
    page = admin_client.get(f"/admin/payments/payment/{payment.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in page and "<img src=x onerror" not in page


@pytest.mark.reliability(
    "Security hardening",
    "An amount underflowing to zero (1e-1000030) is 400 invalid_amount on every amount path; a charset "
    "outside utf-8, us-ascii and iso-8859-1 (bz2_codec, undefined) is 415 everywhere, the admin's multipart "
    "posts too",
)
@pytest.mark.parametrize("form", ["json-number", "string"])
def test_an_amount_that_underflows_to_zero_is_400_on_every_amount_path(api, pay, form):
    """1e-1000030 is positive, but scaling it to minor units underflows to 0:
    every path that takes an amount answers 400 invalid_amount, never a 409 or a 500."""
    paid = pay(card=None, payment_method="pm_card_visa").json()["payment_id"]
    held = pay(card=None, payment_method="pm_card_visa", capture_method="manual").json()["payment_id"]
    tiny = "1e-1000030"
    amount = tiny if form == "json-number" else json.dumps(tiny)
    base = {"order_id": "o-tiny", "currency": "usd", "payment_method": "pm_card_visa"}
    paths = {
        PROCESS: base,
        "/api/v1/stripe/payment": base,
        f"/api/v1/payments/{paid}/refund": {},
        f"/api/v1/payments/{held}/capture": {},
        "/api/v1/stripe/refund": {"payment_id": paid},
    }
    payments_before = Payment.objects.count()

    for path, fields in paths.items():
        body = json.dumps(fields)[:-1] + (", " if fields else "") + f'"amount": {amount}}}'
        response = api.generic("POST", path, body, content_type="application/json")
        assert response.status_code == 400, (path, response.content[:300])
        assert response.json()["error"]["code"] == "invalid_amount", (path, response.json())
    assert Payment.objects.count() == payments_before
    assert Payment.objects.get(public_id=paid).refunded_minor == 0


@pytest.mark.reliability(
    "Security hardening",
    "An amount underflowing to zero (1e-1000030) is 400 invalid_amount on every amount path; a charset "
    "outside utf-8, us-ascii and iso-8859-1 (bz2_codec, undefined) is 415 everywhere, the admin's multipart "
    "posts too",
)
@pytest.mark.parametrize(
    "charset", ["bz2_codec", "zlib_codec", "hex", "no-such-charset", "rot13", "undefined", "utf-16", "cp1252"]
)
@pytest.mark.parametrize(
    "path", [PROCESS, "/api/v1/stripe/validate-card", "/api/v1/stripe/webhook", "/admin/login/"]
)
def test_a_charset_that_is_not_a_text_encoding_is_415_everywhere(api, charset, path):
    response = api.generic(
        "POST", path, b'{"order_id": "o1"}', content_type=f"application/json; charset={charset}"
    )

    _assert_refused(response, 415, "unsupported_charset")


@pytest.mark.reliability(
    "Security hardening",
    "An amount underflowing to zero (1e-1000030) is 400 invalid_amount on every amount path; a charset "
    "outside utf-8, us-ascii and iso-8859-1 (bz2_codec, undefined) is 415 everywhere, the admin's multipart "
    "posts too",
)
@pytest.mark.parametrize("path", ["/admin/login/", "/admin/mfa/", "/admin/payments/payment/"])
def test_a_multipart_post_with_an_undefined_charset_is_415_not_500(client, path):
    body = b"--b\r\nContent-Disposition: form-data; name=username\r\n\r\nx\r\n--b--\r\n"
    refused = client.generic(
        "POST", path, body, content_type="multipart/form-data; boundary=b; charset=undefined"
    )
    allowed = [
        client.generic(
            "POST", "/admin/login/", body, content_type=f"multipart/form-data; boundary=b; charset={name}"
        )
        for name in ("UTF-8", "us-ascii", "ISO-8859-1")
    ]

    _assert_refused(refused, 415, "unsupported_charset")
    assert [response.status_code for response in allowed] == [200, 200, 200]  # the form again, no 500


@pytest.mark.django_db(transaction=True)
def test_a_10000_character_idempotency_key_gets_the_json_400_from_the_server_too(merchant):
    import requests

    from conftest import server_start

    server, base = server_start()
    try:
        response = requests.post(
            f"{base}{PROCESS}",
            json=payment_body(card=None, payment_method="pm_card_visa"),
            headers={"Authorization": f"Bearer {merchant.raw_key}", "Idempotency-Key": "k" * 10_000},
            timeout=10,
        )
    finally:
        server.terminate()
        server.wait(timeout=35)

    assert response.status_code == 400  # not the server's own 431: the header reaches Django
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Payment.objects.exists()
