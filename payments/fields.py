"""The one model field for money: an integer count of minor units."""

from __future__ import annotations

from django.db import models


class MinorUnitsField(models.BigIntegerField):
    """An amount as an integer count of minor units of a currency (cents, yen,
    fils), never a float. The currency is another field of the row; parsing,
    the currency's exponent and formatting live in payments.money."""

    description = "An amount in minor units of a currency"

    def to_python(self, value):
        if isinstance(value, float):
            raise TypeError("An amount in minor units is an integer, never a float.")
        return super().to_python(value)

    def get_prep_value(self, value):
        if isinstance(value, float):
            raise TypeError("An amount in minor units is an integer, never a float.")
        return super().get_prep_value(value)
