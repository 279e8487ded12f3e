"""Local card validation. Never sends the card anywhere: the seed's version
called Stripe to validate, which made it a card-testing oracle.

Checks: digits only (after removing spaces and dashes), Luhn, brand from the
IIN ranges, the length allowed for that brand, the CVC length for that brand,
expiry month 1-12, a 2- or 4-digit year, not in the past (a card is valid
through the end of its month) and not absurdly far in the future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from gateway.core.luhn import luhn_valid

MAX_YEARS_AHEAD = 20


@dataclass(frozen=True)
class Brand:
    name: str
    lengths: tuple[int, ...]
    cvc_length: int


VISA = Brand("visa", (13, 16, 19), 3)
MASTERCARD = Brand("mastercard", (16,), 3)
AMEX = Brand("amex", (15,), 4)
DISCOVER = Brand("discover", (16, 17, 18, 19), 3)
JCB = Brand("jcb", (16, 17, 18, 19), 3)
DINERS = Brand("diners", (14, 15, 16, 17, 18, 19), 3)
UNIONPAY = Brand("unionpay", (16, 17, 18, 19), 3)

# (low, high, prefix length, brand), checked in order; the more specific ranges first.
_IIN_RANGES: list[tuple[int, int, int, Brand]] = [
    (34, 34, 2, AMEX),
    (37, 37, 2, AMEX),
    (6011, 6011, 4, DISCOVER),
    (644, 649, 3, DISCOVER),
    (65, 65, 2, DISCOVER),
    (622126, 622925, 6, DISCOVER),
    (3528, 3589, 4, JCB),
    (300, 305, 3, DINERS),
    (3095, 3095, 4, DINERS),
    (36, 36, 2, DINERS),
    (38, 39, 2, DINERS),
    (62, 62, 2, UNIONPAY),
    (81, 81, 2, UNIONPAY),
    (51, 55, 2, MASTERCARD),
    (2221, 2720, 4, MASTERCARD),
    (4, 4, 1, VISA),
]


@dataclass
class CardError:
    field: str
    code: str
    message: str


@dataclass
class CardCheck:
    valid: bool
    brand: str = "unknown"
    last4: str = ""
    number: str = ""  # the normalised digits, for tokenization only; never serialised
    exp_month: int | None = None
    exp_year: int | None = None
    errors: list[CardError] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"CardCheck(valid={self.valid}, brand={self.brand!r}, last4={self.last4!r})"


def brand_of(digits: str) -> Brand | None:
    for low, high, length, brand in _IIN_RANGES:
        if len(digits) >= length and low <= int(digits[:length]) <= high:
            return brand
    return None


def _parse_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,4}", value.strip()):
        return int(value.strip())
    return None


def card_validate(
    *, number: object, exp_month: object, exp_year: object, cvc: object, today: date | None = None
) -> CardCheck:
    today = today or date.today()
    check = CardCheck(valid=False)
    errors = check.errors

    digits = re.sub(r"[ -]", "", number) if isinstance(number, str) else ""
    brand = None
    if not digits.isdigit() or not digits.isascii():
        errors.append(CardError("number", "invalid_number", "The card number must contain only digits."))
    else:
        check.last4 = digits[-4:]
        brand = brand_of(digits)
        check.brand = brand.name if brand else "unknown"
        if not 12 <= len(digits) <= 19:
            errors.append(CardError("number", "invalid_length", "The card number has the wrong length."))
        elif brand and len(digits) not in brand.lengths:
            errors.append(
                CardError(
                    "number", "invalid_length", f"A {brand.name} card number has {_lengths(brand)} digits."
                )
            )
        if not luhn_valid(digits):
            errors.append(CardError("number", "incorrect_number", "The card number is not valid."))
        if brand is None:
            errors.append(CardError("number", "unknown_brand", "The card brand is not supported."))
        check.number = digits

    month = _parse_int(exp_month)
    if month is None or not 1 <= month <= 12:
        errors.append(CardError("exp_month", "invalid_expiry_month", "The expiry month must be 1 to 12."))
        month = None
    year_text = (
        str(exp_year).strip() if isinstance(exp_year, (int, str)) and not isinstance(exp_year, bool) else ""
    )
    year = _parse_int(exp_year)
    if year is None or len(year_text) not in (2, 4):
        errors.append(
            CardError("exp_year", "invalid_expiry_year", "The expiry year must have 2 or 4 digits.")
        )
        year = None
    elif len(year_text) == 2:
        year += 2000
    if month and year:
        if (year, month) < (today.year, today.month):
            errors.append(CardError("exp_year", "expired_card", "The card has expired."))
        elif year > today.year + MAX_YEARS_AHEAD:
            errors.append(
                CardError("exp_year", "invalid_expiry_year", "The expiry year is too far in the future.")
            )
    check.exp_month, check.exp_year = month, year

    cvc_text = cvc if isinstance(cvc, str) else ""
    expected_cvc = brand.cvc_length if brand else None
    if not cvc_text.isdigit() or not cvc_text.isascii():
        errors.append(CardError("cvc", "invalid_cvc", "The CVC must contain only digits."))
    elif expected_cvc and len(cvc_text) != expected_cvc:
        errors.append(CardError("cvc", "invalid_cvc", f"A {brand.name} card has a {expected_cvc}-digit CVC."))
    elif not expected_cvc and len(cvc_text) not in (3, 4):
        errors.append(CardError("cvc", "invalid_cvc", "The CVC must have 3 or 4 digits."))

    check.valid = not errors
    return check


def _lengths(brand: Brand) -> str:
    values = [str(n) for n in brand.lengths]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
