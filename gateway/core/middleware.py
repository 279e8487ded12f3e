"""Cross-cutting request middleware."""

from __future__ import annotations

import codecs
import logging
import time

from django.utils.http import parse_header_parameters

from gateway.core.errors import UnsupportedMediaType, django_error_response
from gateway.core.request_context import request_id_for, reset_request_id, set_request_id

logger = logging.getLogger("gateway.request")


def access_log(method: str, path: str, status: int, started: float) -> None:
    """One line per request (RequestIdMiddleware, and /health before Django):
    the path only, never the query string or the body."""
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    logger.info(
        "%s %s %s %.1fms",
        method,
        path,
        status,
        duration_ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms},
    )


class RequestIdMiddleware:
    """Takes X-Request-ID (or makes one), exposes it to logs, echoes it back,
    and writes one access-log line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get("X-Request-ID", ""))
        request.request_id = request_id
        token = set_request_id(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            access_log(request.method, request.path, response.status_code, started)
            return response
        finally:
            reset_request_id(token)


# utf-8, us-ascii and iso-8859-1 under any of their names: what clients send.
# Python's registry holds more that look like text encodings and are not
# (`undefined` raises on any use, a 500 in the admin's CSRF check).
_ALLOWED_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1"})


def _is_text_charset(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name in _ALLOWED_CHARSETS
    except LookupError:
        return False


class ContentTypeCharsetMiddleware:
    """A request body is decoded with the charset its Content-Type names, by
    Django and DRF alike; Python's codec registry also holds bytes-to-bytes
    codecs (`bz2_codec`, `zlib_codec`, `hex`), `undefined`, and answers unknown
    names with LookupError, a 500 wherever a body is read. Only utf-8, us-ascii
    and iso-8859-1 get through; anything else is a 415 before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type:
            _, params = parse_header_parameters(content_type)
            charset = params.get("charset")
            if charset is not None and not _is_text_charset(charset):
                return django_error_response(
                    UnsupportedMediaType(
                        "The Content-Type names a charset that is not a text encoding; use utf-8.",
                        code="unsupported_charset",
                    )
                )
        return self.get_response(request)
