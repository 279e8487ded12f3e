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

It answers only what Django's URL resolver routes to those two views (a
merchant's payment id may be a word another view has, `process`).
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

import logging
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
from django.urls import Resolver404, resolve
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware

from gateway.core.errors import NotFound
from gateway.core.middleware import access_log
from gateway.core.parsers import JSONRenderer
from gateway.core.ratelimit import SPENT_ENVIRON_KEY, rate_limit_spend, ratelimit_headers_set
from gateway.core.request_context import request_id_for, reset_request_id, set_request_id
from gateway.core.timing import server_timing_set, timings_measured
from payments.auth import bearer_key
from payments.http import payment_read_body
from payments.selectors import api_client_get_by_key

logger = logging.getLogger("payments.read_route")

_PREFIX = "/api/v1/payments/"
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
        # The two views, by the function Django's URL resolver gives for them.
        self.routes = {
            route.resolver_match.func: route
            for route in (
                _route(f"{_PREFIX}pay_route_probe", status_only=False),
                _route(f"{_PREFIX}pay_route_probe/status", status_only=True),
            )
        }
        self.security = SecurityMiddleware(_never_called)
        self.cors = CorsMiddleware(_never_called)
        self.xframe = XFrameOptionsMiddleware(_never_called)
        self.metrics_before = PrometheusBeforeMiddleware(_never_called)
        self.metrics_after = PrometheusAfterMiddleware(_never_called)
        self.renderer = JSONRenderer()

    def __call__(self, environ, start_response):
        if not self._plain(environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        # Only what Django would route to one of the two views: a merchant's
        # payment id can be a word another view has under /payments/ (`process`).
        try:
            match = resolve(environ["PATH_INFO"])
        except Resolver404:
            return self.app(environ, start_response)
        route = self.routes.get(match.func)
        if route is None:
            return self.app(environ, start_response)
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS: Django answers a host it refuses
        except DisallowedHost:
            return self.app(environ, start_response)
        if self.security.process_request(request) is not None:  # SECURE_SSL_REDIRECT
            return self.app(environ, start_response)
        request.resolver_match = match
        # One request id, whoever answers: Django reuses the one given here.
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        environ["HTTP_X_REQUEST_ID"] = request_id
        token = set_request_id(request_id)
        try:
            # As Django's handler: the database connection's start-of-request
            # care (CONN_MAX_AGE, CONN_HEALTH_CHECKS). A request handed over
            # gets it twice, which costs one more health check on an error.
            signals.request_started.send(sender=type(self), environ=environ)
            answer = self._answer(request, route, match.kwargs["payment_id"], started)
            if answer is not _HANDED_OVER:
                return self._respond(request, route, *answer, started, start_response)
        finally:
            reset_request_id(token)
        return self.app(environ, start_response)

    def _plain(self, environ) -> bool:
        return (
            self.enabled
            and environ.get("REQUEST_METHOD") == "GET"
            and environ.get("PATH_INFO", "").startswith(_PREFIX)
            and not environ.get("QUERY_STRING")
            and environ.get("CONTENT_TYPE", "") in _BODYLESS_CONTENT_TYPES
            and environ.get("CONTENT_LENGTH", "0") in ("", "0")
            and "HTTP_TRANSFER_ENCODING" not in environ
            and "HTTP_ORIGIN" not in environ
            and environ.get("HTTP_ACCEPT", "") in _JSON_ACCEPTS
        )

    def _answer(self, request, route: _Route, public_id: str, started: float):
        """(the 200 response, its rate-limit usage), or _HANDED_OVER to Django."""
        try:
            raw_key = bearer_key(request)
        except ValueError:
            return _HANDED_OVER  # Django refuses it, and counts it against the address
        if not raw_key:
            return _HANDED_OVER
        with timings_measured(started=started) as timings:
            try:
                client = api_client_get_by_key(raw_key=raw_key)
            except Exception as exc:  # the database, on a cache miss
                return _handed_over(request, exc)
            if client is None:
                return _HANDED_OVER
            request.user = request.auth = client
            try:
                usage = rate_limit_spend(request, route.scope)
            except Exception as exc:  # the cache is down and limits fail closed: Django's 503
                return _handed_over(request, exc)
            if usage is not None and usage["should_limit"]:
                return _handed_over(request, spent=(route.scope, usage))
            try:
                body = payment_read_body(client=client, public_id=public_id, status_only=route.status_only)
                response = HttpResponse(self.renderer.render(body), content_type="application/json")
            except NotFound:
                return _handed_over(request, spent=(route.scope, usage))
            except Exception as exc:
                return _handed_over(request, exc, spent=(route.scope, usage))
        server_timing_set(response, timings)
        return response, usage

    def _respond(self, request, route: _Route, response, usage, started: float, start_response):
        try:
            # django-prometheus's hooks, as its two middleware would call them,
            # with the latency measured from the request's start.
            self.metrics_before.process_request(request)
            self.metrics_after.process_request(request)
            request.prometheus_before_middleware_event = started
            request.prometheus_after_middleware_event = started
            self.metrics_after.process_view(request, request.resolver_match.func)

            response["Content-Length"] = str(len(response.content))  # as CommonMiddleware
            response["Allow"] = route.allow
            ratelimit_headers_set(response, usage)
            response["X-Request-ID"] = request.META["HTTP_X_REQUEST_ID"]
            self.xframe.process_response(request, response)
            self.cors.add_response_headers(request, response)
            self.security.process_response(request, response)
            self.metrics_after.process_response(request, response)
            self.metrics_before.process_response(request, response)
            headers = list(response.items())
        except Exception as exc:  # nothing is sent yet: Django answers, counted once
            _handed_over(request, exc, spent=(route.scope, usage))
            return self.app(request.META, start_response)
        access_log("GET", request.path, response.status_code, started)
        # As Django's WSGIHandler: the server closes the response, which sends
        # request_finished (the database connection's end-of-request care).
        response._handler_class = type(self)
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return response


def _handed_over(request, exc: Exception | None = None, *, spent: tuple | None = None):
    """Hands the request to Django; the rate-limit use already counted goes
    with it. An unexpected error is logged by its type: Django meets it again,
    or answers if it has passed."""
    if spent is not None:
        request.META[SPENT_ENVIRON_KEY] = spent
    if exc is not None:
        logger.warning("Payment read route: %s; handed to Django", type(exc).__name__)
    return _HANDED_OVER
