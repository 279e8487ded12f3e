"""GET /health answered before Django: the liveness probe, at the WSGI level.
(Also the one place every request passes before Django: it drops a client's
trace context headers.)

A probe only asks whether the process answers, so it needs no URL resolver,
middleware, DRF dispatch or database (issue #28: 0.86 ms of CPU per probe
through the whole stack, against a target of 0.2). The body is the one the
Django view documents in the schema (gateway.core.views.HealthView), built by
the same function, with the security headers and the X-Request-ID the
middleware would add, and the same access-log line. Anything else, including
another method on /health, goes to Django.
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.utils import timezone

from gateway.core.middleware import access_log
from gateway.core.request_context import request_id_for, reset_request_id, set_request_id

PATH = "/health"


def liveness_body() -> dict:
    """The seed's /health body."""
    return {
        "status": "healthy",
        "service": settings.SERVICE_NAME,
        "version": settings.VERSION,
        "timestamp": timezone.now().isoformat(),
    }


def _static_headers() -> list[tuple[str, str]]:
    """What SecurityMiddleware and XFrameOptionsMiddleware add to a JSON answer."""
    headers = [("Content-Type", "application/json"), ("X-Frame-Options", settings.X_FRAME_OPTIONS)]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append(("Referrer-Policy", settings.SECURE_REFERRER_POLICY))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


_CLIENT_TRACE_HEADERS = ("HTTP_TRACEPARENT", "HTTP_TRACESTATE", "HTTP_BAGGAGE")


class LivenessRoute:
    """WSGI: GET and HEAD /health here, everything else to `app` (Django)."""

    def __init__(self, app):
        self.app = app
        self.headers = _static_headers()

    def __call__(self, environ, start_response):
        # A client's trace context is not ours to continue: it would choose the
        # trace id stored with our events, sent to Kafka and to merchants, and
        # (with a parent-based sampler) whether we sample (docs/tracing.md).
        for header in _CLIENT_TRACE_HEADERS:
            environ.pop(header, None)
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != PATH or method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        token = set_request_id(request_id)
        try:
            body = json.dumps(liveness_body(), separators=(",", ":")).encode()
            start_response(
                "200 OK",
                [*self.headers, ("Content-Length", str(len(body))), ("X-Request-ID", request_id)],
            )
            access_log(method, PATH, 200, started)
            return [b"" if method == "HEAD" else body]
        finally:
            reset_request_id(token)
