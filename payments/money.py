"""Money: an integer count of minor units plus an ISO 4217 currency.

Amounts arrive in major units, as the seed's clients send them: a JSON number
(`99.99`, parsed as Decimal, never float) or a string (`"99.99"`). They are
converted exactly with the currency's exponent, and input with more precision
than the currency has is rejected, never rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from gateway.core.errors import InvalidRequest

# Stripe's zero-decimal currencies: the amount is already in the smallest unit.
ZERO_DECIMAL_CURRENCIES = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
# Stripe's three-decimal currencies.
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())

# The currencies Stripe settles card payments in (ISO 4217, lower case).
SUPPORTED_CURRENCIES = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn
    bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd
    gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak
    lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd
    omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd szl
    thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
    """.split()
)

# Stripe's largest amount for one charge: eight digits of minor units
# (99,999,999: $999,999.99 or ¥99,999,999).
MAX_AMOUNT_MINOR = 99_999_999

_AMOUNT_STRING = re.compile(r"^\d+(\.\d+)?$")
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cny": "¥", "inr": "₹", "krw": "₩"}


def currency_exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def currency_normalize(value: object, *, param: str = "currency") -> str:
    """Upper or lower case is accepted (`USD` becomes `usd`, as Stripe writes it);
    anything else that is not exactly a supported code is rejected, spaces included."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise InvalidRequest(
            "currency must be a three-letter ISO 4217 code such as 'usd'.",
            code="invalid_currency",
            param=param,
        )
    currency = value.lower()
    if currency not in SUPPORTED_CURRENCIES:
        raise InvalidRequest(
            f"Currency '{currency}' is not supported.", code="unsupported_currency", param=param
        )
    return currency


def _to_decimal(value: object, param: str) -> Decimal:
    if isinstance(value, bool):
        raise InvalidRequest(
            "amount must be a number or a decimal string.", code="invalid_amount", param=param
        )
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Floats never come from our JSON parser; one from elsewhere is taken by
        # its shortest repr (0.29 -> "0.29"), never by its binary value.
        return Decimal(repr(value))
    if isinstance(value, str) and _AMOUNT_STRING.match(value):
        return Decimal(value)
    raise InvalidRequest(
        'amount must be a positive number or decimal string, such as 99.99 or "99.99".',
        code="invalid_amount",
        param=param,
    )


def to_minor_units(value: object, currency: str, *, param: str = "amount") -> int:
    """Major units (Decimal, int or string) -> an exact integer of minor units."""
    amount = _to_decimal(value, param)
    if not amount.is_finite():
        raise InvalidRequest("amount must be a finite number.", code="invalid_amount", param=param)
    if amount <= 0:
        raise InvalidRequest("amount must be greater than zero.", code="invalid_amount", param=param)
    exponent = currency_exponent(currency)
    # Compare before scaling so that 1e400 cannot build a huge integer.
    if amount > Decimal(MAX_AMOUNT_MINOR).scaleb(-exponent):
        raise InvalidRequest(
            f"amount must be at most {format_amount(MAX_AMOUNT_MINOR, currency)} {currency.upper()}.",
            code="amount_too_large",
            param=param,
        )
    try:
        scaled = amount.scaleb(exponent)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the bound above
        raise InvalidRequest("amount is not valid.", code="invalid_amount", param=param) from exc
    if scaled != scaled.to_integral_value():
        raise InvalidRequest(
            f"amount has more decimal places than {currency.upper()} allows ({exponent}).",
            code="amount_too_precise",
            param=param,
        )
    minor = int(scaled)
    if minor <= 0:
        # A positive amount so small that scaling underflowed to zero (1e-1000030:
        # Decimal's exponent range ends near -10**6): as invalid as a zero.
        raise InvalidRequest("amount must be greater than zero.", code="invalid_amount", param=param)
    return minor


def to_major_units(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-currency_exponent(currency))


def format_amount(amount_minor: int, currency: str) -> str:
    """The decimal string of an amount in major units: 9999 usd -> "99.99", 5000 jpy -> "5000"."""
    exponent = currency_exponent(currency)
    return f"{to_major_units(amount_minor, currency):.{exponent}f}"


def format_money(amount_minor: int, currency: str) -> str:
    """For people (admin, e-mails), with thousands separators: "$11,747.76",
    "¥5,000", "KWD 1.250". (format_amount is the plain form, for inputs.)"""
    symbol = _SYMBOLS.get(currency)
    amount = f"{to_major_units(amount_minor, currency):,.{currency_exponent(currency)}f}"
    return f"{symbol}{amount}" if symbol else f"{currency.upper()} {amount}"
