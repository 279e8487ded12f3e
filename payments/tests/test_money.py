from decimal import Decimal

import pytest

from gateway.core.errors import InvalidRequest
from payments.money import (
    MAX_AMOUNT_MINOR,
    currency_normalize,
    format_amount,
    format_money,
    to_minor_units,
)

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        (Decimal("19.99"), "usd", 1999),  # float money made this 1998
        (Decimal("0.29"), "usd", 29),  # and this 28
        ("99.99", "usd", 9999),
        (Decimal("99.99"), "eur", 9999),
        (10, "usd", 1000),
        ("10", "usd", 1000),
        (Decimal("10.10"), "usd", 1010),
        (Decimal("10.000"), "usd", 1000),  # trailing zeros are not extra precision
        (5000, "jpy", 5000),  # zero-decimal: not multiplied by 100
        ("5000", "jpy", 5000),
        (Decimal("1.250"), "kwd", 1250),  # three-decimal
        (Decimal("0.001"), "bhd", 1),
        (Decimal("999999.99"), "usd", MAX_AMOUNT_MINOR),
        (0.29, "usd", 29),  # a float from elsewhere is read by its repr, not its binary value
    ],
)
def test_amounts_convert_exactly(value, currency, minor):
    assert to_minor_units(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency", "code"),
    [
        (Decimal("10.001"), "usd", "amount_too_precise"),
        (Decimal("5000.5"), "jpy", "amount_too_precise"),
        (Decimal("1.2345"), "kwd", "amount_too_precise"),
        (0, "usd", "invalid_amount"),
        (Decimal("-0"), "usd", "invalid_amount"),
        (Decimal("-1.00"), "usd", "invalid_amount"),
        ("-1", "usd", "invalid_amount"),
        (Decimal("NaN"), "usd", "invalid_amount"),
        (Decimal("Infinity"), "usd", "invalid_amount"),
        ("NaN", "usd", "invalid_amount"),
        ("1e3", "usd", "invalid_amount"),
        (" 1.00", "usd", "invalid_amount"),
        ("0.1+0.2", "usd", "invalid_amount"),
        (True, "usd", "invalid_amount"),
        (None, "usd", "invalid_amount"),
        (Decimal("1E+400"), "usd", "amount_too_large"),
        (99999999999999999999, "usd", "amount_too_large"),
        (Decimal("1000000.00"), "usd", "amount_too_large"),
        (100000000, "jpy", "amount_too_large"),
    ],
)
def test_bad_amounts_are_rejected_with_a_code(value, currency, code):
    with pytest.raises(InvalidRequest) as caught:
        to_minor_units(value, currency)

    assert caught.value.code == code
    assert caught.value.param == "amount"


@pytest.mark.parametrize(("given", "expected"), [("usd", "usd"), ("USD", "usd"), ("Jpy", "jpy")])
def test_currency_case_is_normalised(given, expected):
    assert currency_normalize(given) == expected


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("usd ", "invalid_currency"),
        ("us", "invalid_currency"),
        ("", "invalid_currency"),
        (840, "invalid_currency"),
        ("xyz", "unsupported_currency"),
        ("usdd", "invalid_currency"),
    ],
)
def test_unknown_or_malformed_currencies_are_rejected(given, code):
    with pytest.raises(InvalidRequest) as caught:
        currency_normalize(given)

    assert caught.value.code == code


@pytest.mark.parametrize(
    ("minor", "currency", "text", "human"),
    [
        (9999, "usd", "99.99", "$99.99"),
        (5, "usd", "0.05", "$0.05"),
        (1174776, "usd", "11747.76", "$11,747.76"),
        (-1174776, "usd", "-11747.76", "$-11,747.76"),
        (5000, "jpy", "5000", "¥5,000"),
        (1250, "kwd", "1.250", "KWD 1.250"),
        (123456789012, "kwd", "123456789.012", "KWD 123,456,789.012"),
    ],
)
def test_amounts_format_with_the_currency_exponent(minor, currency, text, human):
    assert format_amount(minor, currency) == text
    assert format_money(minor, currency) == human


@pytest.mark.django_db
def test_the_money_field_refuses_a_float():
    from django.db import transaction

    from payments.tests.factories import PaymentFactory

    with pytest.raises(TypeError), transaction.atomic():
        PaymentFactory(amount_minor=19.99)
    assert PaymentFactory(amount_minor=1999).amount_minor == 1999
