"""GET /health answered before Django (gateway.core.liveness, gateway/wsgi.py):
the same body and headers as the Django view, and everything else to Django."""

import json
import logging

import pytest
from django.test import Client

from conftest import wsgi_call
from gateway.core.liveness import LivenessRoute
from gateway.wsgi import application

pytestmark = [pytest.mark.fast, pytest.mark.django_db]


def _call(app, method="GET", path="/health", **environ):
    return wsgi_call(app, path, method=method, **environ)


def test_the_wsgi_route_answers_what_the_django_view_answers():
    status, headers, body = _call(application)
    django = Client().get("/health")

    assert status == "200 OK"
    ours, theirs = json.loads(body), django.json()
    assert set(ours) == set(theirs) == {"status", "service", "version", "timestamp"}
    assert {k: ours[k] for k in ("status", "service", "version")} == {
        k: theirs[k] for k in ("status", "service", "version")
    }
    # The headers Django's middleware adds to a JSON answer, with the same values.
    for name in ("Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert headers[name] == django.headers[name], name
    assert headers["Content-Length"] == str(len(body))
    assert headers["X-Request-ID"].startswith("req_")


def test_django_is_not_reached_for_get_and_head():
    def django(environ, start_response):
        raise AssertionError("Django was called")

    route = LivenessRoute(django)
    assert _call(route)[0] == "200 OK"
    status, headers, body = _call(route, method="HEAD")
    assert (status, body) == ("200 OK", b"")
    assert int(headers["Content-Length"]) > 0  # the length GET's body would have


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/health"), ("GET", "/health/ready"), ("GET", "/healthz")]
)
def test_anything_else_goes_to_django(method, path):
    reached = []

    def django(environ, start_response):
        reached.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("405 Method Not Allowed", [])
        return [b""]

    _call(LivenessRoute(django), method=method, path=path)
    assert reached == [(method, path)]


def test_a_plain_request_id_is_echoed_and_a_hostile_one_replaced(caplog):
    with caplog.at_level(logging.INFO, logger="gateway.request"):
        _, plain, _ = _call(application, HTTP_X_REQUEST_ID="lb-probe-1")
        _, hostile, _ = _call(application, HTTP_X_REQUEST_ID="x\r\nSet-Cookie: a=b")

    assert plain["X-Request-ID"] == "lb-probe-1"
    assert hostile["X-Request-ID"].startswith("req_")
    # The access line, as the middleware writes it, with the request's id.
    lines = [r for r in caplog.records if r.name == "gateway.request"]
    assert [(r.path, r.status, r.request_id) for r in lines] == [
        ("/health", 200, "lb-probe-1"),
        ("/health", 200, hostile["X-Request-ID"]),
    ]


def test_a_client_s_trace_context_never_reaches_django():
    seen = {}

    def django(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    _call(
        LivenessRoute(django),
        path="/api/v1/payments",
        HTTP_TRACEPARENT="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        HTTP_TRACESTATE="x=y",
        HTTP_BAGGAGE="k=v",
    )

    assert seen["PATH_INFO"] == "/api/v1/payments"
    assert not {"HTTP_TRACEPARENT", "HTTP_TRACESTATE", "HTTP_BAGGAGE"} & set(seen)


def test_the_served_application_reads_payments_in_front_of_django():
    from payments.read_route import PaymentReadRoute

    assert isinstance(application, LivenessRoute)
    assert isinstance(application.app, PaymentReadRoute)
