"""Where a request's time goes: in the gateway, waiting on the PSP, in the database.

Each API response carries `Server-Timing: app;dur=…, psp;dur=…, db;dur=…;desc="N queries"`,
where `app` is the total minus the time spent waiting on the PSP: the gateway's
own overhead (as Hyperswitch reports it in x-hs-latency).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class RequestTimings:
    psp_ms: float = 0.0
    db_ms: float = 0.0
    queries: int = 0
    started: float = field(default_factory=time.perf_counter)


_current: contextvars.ContextVar[RequestTimings | None] = contextvars.ContextVar("timings", default=None)


def psp_time_add(milliseconds: float) -> None:
    """Called around every HTTP call to the PSP (stripe_integration.client)."""
    timings = _current.get()
    if timings is not None:
        timings.psp_ms += milliseconds


def _db_timer(execute, sql, params, many, context):
    timings = _current.get()
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        if timings is not None:
            timings.db_ms += (time.perf_counter() - started) * 1000
            timings.queries += 1


@contextlib.contextmanager
def timings_measured(*, started: float | None = None) -> Iterator[RequestTimings]:
    """The PSP's and the database's share of what runs inside, from `started` (now)."""
    timings = RequestTimings() if started is None else RequestTimings(started=started)
    token = _current.set(timings)
    try:
        with connection.execute_wrapper(_db_timer):
            yield timings
    finally:
        _current.reset(token)


def server_timing_set(response, timings: RequestTimings) -> None:
    total_ms = (time.perf_counter() - timings.started) * 1000
    app_ms = max(total_ms - timings.psp_ms, 0.0)
    response["Server-Timing"] = (
        f"app;dur={app_ms:.1f}, psp;dur={timings.psp_ms:.1f}, "
        f'db;dur={timings.db_ms:.1f};desc="{timings.queries} queries", total;dur={total_ms:.1f}'
    )


class ServerTimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with timings_measured() as timings:
            response = self.get_response(request)
        server_timing_set(response, timings)
        return response
