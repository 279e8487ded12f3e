"""GET one payment, or its status, answered in front of Django's dispatch (issue #28).

The API's hottest read is one SELECT; through the whole stack it cost about
2 ms of CPU, most of it URL resolution, middleware and DRF's dispatch. This
WSGI route answers the plain case of `GET /api/v1/payments/<id>` and
`GET /api/v1/payments/<id>/status` with the same parts the view uses, in the
same order:

- the API key: payments.selectors.api_client_get_by_key, as ApiKeyAuthentication;
- the rate limit: gateway.core.ratelimit.rate_limit_spend, with the view's scope;
- the answer: payments.http.payment_read_body, the view's own body, written by
  the API's JSON renderer;
- the headers: Django's SecurityMiddleware, XFrameOptionsMiddleware and
  django-cors-headers (their own methods), Allow as DRF sets it, RateLimit-*,
  Server-Timing and X-Request-ID by the functions the middleware uses;
- the access line and django-prometheus's metrics, under the view's name.

Every other outcome is Django's to answer, so that each error has one code
path: no key or a wrong one, a limited caller, an unknown payment, a database
error. Django then serves the request from the start; a rate limit already
counted is handed over in the environ (ratelimit.SPENT_ENVIRON_KEY), so it is
counted once. So do requests it does not recognise as plain: another method,
a query string, a body, an Origin (CORS), an Accept other than JSON, a Host
Django would refuse, plain HTTP when SECURE_SSL_REDIRECT is on, and every
request while tracing is on (the spans come from Django's instrumentation).
PAYMENT_READ_ROUTE=false sends everything to Django.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import resolve
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware

from gateway.core.middleware import access_log
from gateway.core.parsers import JSONRenderer
from gateway.core.ratelimit import SPENT_ENVIRON_KEY, rate_limit_spend, ratelimit_headers_set
from gateway.core.request_context import request_id_for, reset_request_id, set_request_id
from gateway.core.timing import server_timing_set, timings_measured
from payments.http import payment_read_body
from payments.selectors import api_client_get_by_key
from payments.views import PaymentViewSet

_PREFIX = "/api/v1/payments/"
_PATH = re.compile(rf"{re.escape(_PREFIX)}({PaymentViewSet.lookup_value_regex})(/status)?")
# What DRF's content negotiation answers with JSON, as this API has no other renderer.
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})
# Clients that send a Content-Type on every request, with no body: what
# ContentTypeCharsetMiddleware lets through untouched.
_BODYLESS_CONTENT_TYPES = frozenset({"", "application/json", "application/json; charset=utf-8"})
_HANDED_OVER = object()


@dataclass(frozen=True)
class _Route:
    """What Django knows of one of the two URLs: the view's name (for metrics),
    its rate-limit scope, and the methods DRF lists in Allow."""

    resolver_match: object
    scope: str
    allow: str
    status_only: bool


def _route(path: str, *, status_only: bool) -> _Route:
    match = resolve(path)
    view_class, actions = match.func.cls, match.func.actions
    # As DRF: a view's methods, HEAD where there is GET, and OPTIONS.
    methods = [
        name.upper()
        for name in view_class.http_method_names
        if name in actions or name == "options" or (name == "head" and "get" in actions)
    ]
    return _Route(
        resolver_match=match,
        scope=getattr(view_class, "rate_limit_scope", "default"),
        allow=", ".join(methods),
        status_only=status_only,
    )


def _never_called(request):
    raise AssertionError("the read route calls its middleware's hooks, not their chains")


class PaymentReadRoute:
    """WSGI: the plain GET of one payment here, everything else to `app` (Django)."""

    def __init__(self, app):
        self.app = app
        self.enabled = settings.PAYMENT_READ_ROUTE and not settings.TRACING_ENABLED
        self.routes = {
            False: _route(f"{_PREFIX}pay_route_probe", status_only=False),
            True: _route(f"{_PREFIX}pay_route_probe/status", status_only=True),
        }
        self.security = SecurityMiddleware(_never_called)
        self.cors = CorsMiddleware(_never_called)
        self.xframe = XFrameOptionsMiddleware(_never_called)
        self.metrics_before = PrometheusBeforeMiddleware(_never_called)
        self.metrics_after = PrometheusAfterMiddleware(_never_called)
        self.renderer = JSONRenderer()

    def __call__(self, environ, start_response):
        match = self._plain(environ)
        if match is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS: Django answers a host it refuses
        except DisallowedHost:
            return self.app(environ, start_response)
        if self.security.process_request(request) is not None:  # SECURE_SSL_REDIRECT
            return self.app(environ, start_response)
        route = self.routes[match.group(2) is not None]
        # One request id, whoever answers: Django reuses the one given here.
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        environ["HTTP_X_REQUEST_ID"] = request_id
        token = set_request_id(request_id)
        try:
            signals.request_started.send(sender=type(self), environ=environ)
            answer = self._answer(request, route, match.group(1), started)
            if answer is not _HANDED_OVER:
                response, usage = answer
                return self._respond(request, route, response, usage, started, start_response)
        finally:
            reset_request_id(token)
        return self.app(environ, start_response)

    def _plain(self, environ):
        if not self.enabled or environ.get("REQUEST_METHOD") != "GET":
            return None
        path = environ.get("PATH_INFO", "")
        if not path.startswith(_PREFIX):
            return None
        if (
            environ.get("QUERY_STRING")
            or environ.get("CONTENT_TYPE", "") not in _BODYLESS_CONTENT_TYPES
            or environ.get("CONTENT_LENGTH", "0") not in ("", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
            or "HTTP_ORIGIN" in environ
            or environ.get("HTTP_ACCEPT", "") not in _JSON_ACCEPTS
        ):
            return None
        return _PATH.fullmatch(path)

    def _answer(self, request, route: _Route, public_id: str, started: float):
        """(the 200 response, its rate-limit usage), or _HANDED_OVER to Django."""
        parts = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].isascii():
            return _HANDED_OVER  # Django refuses it, and counts it against the address
        with timings_measured(started=started) as timings:
            try:
                client = api_client_get_by_key(raw_key=parts[1])
            except Exception:  # the database is down on a cache miss: Django's answer
                return _HANDED_OVER
            if client is None:
                return _HANDED_OVER
            request.user = request.auth = client
            try:
                usage = rate_limit_spend(request, route.scope)
            except Exception:  # the cache is down and limits fail closed: Django's 503
                return _HANDED_OVER
            if usage is not None and usage["should_limit"]:
                request.META[SPENT_ENVIRON_KEY] = (route.scope, usage)
                return _HANDED_OVER
            try:
                body = payment_read_body(client=client, public_id=public_id, status_only=route.status_only)
            except Exception:  # an unknown payment, a database error: Django's answer
                request.META[SPENT_ENVIRON_KEY] = (route.scope, usage)
                return _HANDED_OVER
        response = HttpResponse(self.renderer.render(body), content_type="application/json")
        server_timing_set(response, timings)
        return response, usage

    def _respond(self, request, route: _Route, response, usage, started: float, start_response):
        request.resolver_match = route.resolver_match
        # django-prometheus's hooks, as its two middleware would call them, with
        # the latency measured from the request's start.
        self.metrics_before.process_request(request)
        self.metrics_after.process_request(request)
        request.prometheus_before_middleware_event = started
        request.prometheus_after_middleware_event = started
        self.metrics_after.process_view(request, route.resolver_match.func)

        response["Content-Length"] = str(len(response.content))  # as CommonMiddleware
        response["Allow"] = route.allow
        ratelimit_headers_set(response, usage)
        response["X-Request-ID"] = request.META["HTTP_X_REQUEST_ID"]
        self.xframe.process_response(request, response)
        self.cors.add_response_headers(request, response)
        self.security.process_response(request, response)
        self.metrics_after.process_response(request, response)
        self.metrics_before.process_response(request, response)
        access_log("GET", request.path, response.status_code, started)

        # As Django's WSGIHandler: the server closes the response, which sends
        # request_finished (the database connection's end-of-request care).
        response._handler_class = type(self)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response
