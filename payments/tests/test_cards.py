"""payments.cards: local card validation (brands, lengths, Luhn, CVC, expiry)."""

from datetime import date

import pytest

from payments.cards import card_validate

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("number", "brand", "cvc"),
    [
        ("4242424242424242", "visa", "123"),
        ("4000056655665556", "visa", "123"),
        ("4222222222222", "visa", "123"),  # 13-digit Visa
        ("5555555555554444", "mastercard", "123"),
        ("2223003122003222", "mastercard", "123"),  # 2-series
        ("378282246310005", "amex", "1234"),
        ("371449635398431", "amex", "1234"),
        ("6011111111111117", "discover", "123"),
        ("6011000990139424", "discover", "123"),
        ("3566002020360505", "jcb", "123"),
        ("36227206271667", "diners", "123"),  # 14 digits
        ("3056930009020004", "diners", "123"),
        ("6200000000000005", "unionpay", "123"),
        ("4242 4242-4242 4242", "visa", "123"),  # spaces and dashes are removed
    ],
)
def test_every_brand_is_recognised(number, brand, cvc):
    check = card_validate(number=number, exp_month="12", exp_year="2030", cvc=cvc, today=TODAY)

    assert check.valid, check.errors
    assert check.brand == brand
    assert check.last4 == number[-4:]


@pytest.mark.parametrize(
    ("card", "field", "code"),
    [
        ({"number": "4242424242424241"}, "number", "incorrect_number"),
        ({"number": "4242abcd42424242"}, "number", "invalid_number"),
        ({"number": "42424242424"}, "number", "invalid_length"),
        ({"number": "37828224631000"}, "number", "invalid_length"),  # amex is 15
        ({"number": "378282246310005", "cvc": "123"}, "cvc", "invalid_cvc"),  # amex needs 4
        ({"cvc": "1234"}, "cvc", "invalid_cvc"),  # visa needs 3
        ({"cvc": "12a"}, "cvc", "invalid_cvc"),
        ({"exp_month": "13"}, "exp_month", "invalid_expiry_month"),
        ({"exp_month": "0"}, "exp_month", "invalid_expiry_month"),
        ({"exp_year": "203"}, "exp_year", "invalid_expiry_year"),
        ({"exp_year": "2099"}, "exp_year", "invalid_expiry_year"),  # absurdly far
        ({"exp_month": "10", "exp_year": "2026"}, "exp_year", "expired_card"),
        ({"exp_month": "12", "exp_year": "2025"}, "exp_year", "expired_card"),
    ],
)
def test_invalid_cards_name_the_field_and_the_reason(card, field, code):
    values = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123", **card}

    check = card_validate(**values, today=TODAY)

    assert not check.valid
    assert (field, code) in {(e.field, e.code) for e in check.errors}


@pytest.mark.parametrize(
    ("month", "year", "valid"),
    [
        ("11", "2026", True),  # valid through the end of its month
        ("11", "26", True),  # two-digit year
        ("10", "26", False),
        ("12", "2026", True),
    ],
)
def test_expiry_at_the_month_boundary(month, year, valid):
    check = card_validate(number="4242424242424242", exp_month=month, exp_year=year, cvc="123", today=TODAY)

    assert check.valid is valid
