"""What management commands of every app share."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def moment_parse(value: str, *, option: str = "--since") -> datetime:
    """An ISO date-time, or an age back from now: 30m, 6h, 2d."""
    parsed = parse_datetime(value)
    if parsed is None and value.endswith(("m", "h", "d")) and value[:-1].isdigit():
        unit = {"m": "minutes", "h": "hours", "d": "days"}[value[-1]]
        return timezone.now() - timedelta(**{unit: int(value[:-1])})
    if parsed is None:
        raise CommandError(f"{option} takes an ISO date-time or an age such as 30m, 6h, 2d; not {value!r}.")
    return parsed
