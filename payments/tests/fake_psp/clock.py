"""The fake PSP's clock: the time of a test, which moves only when the test says so.

While a test uses it (the sim_clock fixture), it also stands in for
django.utils.timezone.now, so leases, windows, expiries and reconciliation ages
move with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SimClock:
    """The time of a test: starts at a fixed instant and moves only when told."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
