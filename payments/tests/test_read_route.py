"""GET one payment in front of Django (payments.read_route, gateway/wsgi.py):
the same answer as the DRF view for every outcome, Django's own answer for
every error, one count against the rate limit, and everything it does not
recognise as plain left to Django."""

import json

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import RequestFactory, override_settings
from prometheus_client import REGISTRY

from conftest import wsgi_call
from gateway.core.ratelimit import usage_count
from payments.read_route import PaymentReadRoute
from payments.tests.factories import ApiClientFactory, SucceededPaymentFactory

pytestmark = [pytest.mark.fast, pytest.mark.django_db]

# What gateway/wsgi.py serves (gateway/tests/test_liveness.py checks that it does).
django_application = get_wsgi_application()
application = PaymentReadRoute(django_application)
# Set per request, or counted down: compared for presence only.
_PER_REQUEST = {"X-Request-ID", "Server-Timing", "RateLimit-Remaining"}


@pytest.fixture(autouse=True)
def _connection_kept():
    """As Django's test client does: the test's transaction outlives each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def merchant():
    return ApiClientFactory(name="read-route")


@pytest.fixture
def payment(merchant):
    return SucceededPaymentFactory(client=merchant, metadata={"note": "ünïcode \u2028"})


def _call(app, path, *, key=None, method="GET", **environ):
    if key is not None:
        environ.setdefault("HTTP_AUTHORIZATION", f"Bearer {key}")
    return wsgi_call(app, path, method=method, **environ)


def _django_never_called(environ, start_response):
    raise AssertionError(f"Django was called for {environ['PATH_INFO']}")


def _assert_same(ours, theirs):
    (status, headers, body), (d_status, d_headers, d_body) = ours, theirs
    assert status == d_status
    assert set(headers) == set(d_headers)
    for name in set(headers) - _PER_REQUEST:
        assert headers[name] == d_headers[name], name
    ours_json, theirs_json = json.loads(body), json.loads(d_body)
    if "error" in ours_json:  # each carries its own request id
        assert ours_json["error"].pop("request_id") == headers["X-Request-ID"]
        theirs_json["error"].pop("request_id")
    assert ours_json == theirs_json


@pytest.mark.parametrize("suffix", ["", "/status"])
def test_a_payment_is_answered_as_the_view_answers_it_without_django(merchant, payment, suffix):
    path = f"/api/v1/payments/{payment.public_id}{suffix}"
    ours = _call(PaymentReadRoute(_django_never_called), path, key=merchant.raw_key)
    theirs = _call(django_application, path, key=merchant.raw_key)

    assert ours[0] == "200 OK"
    _assert_same(ours, theirs)
    assert json.loads(ours[2])["payment_id"] == payment.public_id
    assert b"\\u2028" in ours[2] or suffix  # the renderer's escapes, as DRF's
    assert ours[1]["Content-Length"] == str(len(ours[2]))
    assert ours[1]["Server-Timing"].startswith("app;dur=")


def test_a_client_that_sends_a_content_type_on_a_get_is_still_answered_here(merchant, payment):
    route = PaymentReadRoute(_django_never_called)
    status, _, _ = _call(
        route, f"/api/v1/payments/{payment.public_id}", key=merchant.raw_key, CONTENT_TYPE="application/json"
    )
    assert status == "200 OK"


def test_another_clients_payment_is_djangos_404_counted_once(settings, payment):
    # An hour's window: the suite's generous limit counts per second, and a
    # second that ends between two requests starts the count again.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "default": "100000/h"}
    stranger = ApiClientFactory(name="stranger")
    path = f"/api/v1/payments/{payment.public_id}"

    first = _call(application, path, key=stranger.raw_key)
    second = _call(application, path, key=stranger.raw_key)
    theirs = _call(django_application, path, key=stranger.raw_key)

    assert first[0] == "404 Not Found"
    _assert_same(first, theirs)
    # Counted by the route, handed to Django with the count: one use per request.
    assert int(first[1]["RateLimit-Remaining"]) - int(second[1]["RateLimit-Remaining"]) == 1
    assert int(second[1]["RateLimit-Remaining"]) - int(theirs[1]["RateLimit-Remaining"]) == 1
    assert _count(stranger, "100000/h") == 3


@pytest.mark.parametrize("key", [None, "gw_nope_wrong", "not-a-key"])
def test_a_missing_or_wrong_key_is_djangos_401(payment, key):
    path = f"/api/v1/payments/{payment.public_id}"
    ours, theirs = _call(application, path, key=key), _call(django_application, path, key=key)

    assert ours[0] == "401 Unauthorized"
    _assert_same(ours, theirs)


def _count(merchant, rate: str) -> int:
    request = RequestFactory().get("/")
    usage = usage_count(
        request, group="default", identity=merchant.rate_limit_identity, rate=rate, increment=False
    )
    return usage["count"]


def test_a_caller_over_its_limit_gets_djangos_429_counted_once(settings, merchant, payment):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "default": "3/h"}  # no window ends mid-test
    path = f"/api/v1/payments/{payment.public_id}"

    answers = [_call(application, path, key=merchant.raw_key) for _ in range(4)]

    assert [status for status, _, _ in answers] == ["200 OK"] * 3 + ["429 Too Many Requests"]
    assert _count(merchant, "3/h") == 4  # the 429 counted by the route, not again by Django
    status, headers, body = answers[3]
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1
    assert headers["RateLimit-Remaining"] == "0"
    theirs = _call(django_application, path, key=merchant.raw_key)
    # A second boundary may pass between the two: the countdowns are compared for presence.
    _PER_REQUEST.update({"Retry-After", "RateLimit-Reset"})
    try:
        _assert_same(answers[3], theirs)
    finally:
        _PER_REQUEST.difference_update({"Retry-After", "RateLimit-Reset"})


def test_a_payment_id_that_another_view_has_under_payments_is_djangos(merchant):
    for word in ("process", "OTP", "validate"):
        SucceededPaymentFactory(client=merchant, public_id=word)
        path = f"/api/v1/payments/{word}"
        ours = _call(application, path, key=merchant.raw_key)
        theirs = _call(django_application, path, key=merchant.raw_key)

        assert ours[0] == "405 Method Not Allowed", word
        _assert_same(ours, theirs)


@pytest.mark.parametrize("header", ["Bearer\xa0{key}", "Bearer\x1f{key}", "Bearer {key} extra"])
def test_the_authorization_header_is_read_as_djangos_authentication_reads_it(merchant, payment, header):
    path = f"/api/v1/payments/{payment.public_id}"
    environ = {"HTTP_AUTHORIZATION": header.format(key=merchant.raw_key)}
    ours, theirs = _call(application, path, **environ), _call(django_application, path, **environ)

    assert ours[0] == "401 Unauthorized"
    _assert_same(ours, theirs)


def test_one_request_started_and_one_request_finished_per_request(merchant, payment):
    seen = []

    def started(sender, **kwargs):
        seen.append("started")

    def finished(sender, **kwargs):
        seen.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        route = PaymentReadRoute(_django_never_called)
        status, _, _ = _call(route, f"/api/v1/payments/{payment.public_id}", key=merchant.raw_key)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert status == "200 OK"
    assert seen == ["started", "finished"]


def test_a_redirect_to_https_is_djangos(merchant, payment):
    reached = []

    def django(environ, start_response):
        reached.append(True)
        start_response("301 Moved Permanently", [])
        return [b""]

    with override_settings(SECURE_SSL_REDIRECT=True):
        route = PaymentReadRoute(django)
    _call(route, f"/api/v1/payments/{payment.public_id}", key=merchant.raw_key)
    assert reached == [True]


# The middleware the route was last compared against (ADR 0012). A change to
# the list may add something the route does not do: read payments/read_route.py
# against it, add what it needs, then update this list.
_REVIEWED_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "gateway.core.middleware.RequestIdMiddleware",
    "gateway.events.middleware.OutboxPublishDeferredMiddleware",
    "gateway.core.middleware.ContentTypeCharsetMiddleware",
    "gateway.core.timing.ServerTimingMiddleware",
    "gateway.core.ratelimit.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "gateway.core.browser_only.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "gateway.core.browser_only.CsrfViewMiddleware",
    "gateway.core.browser_only.AuthenticationMiddleware",
    "gateway.core.browser_only.OTPMiddleware",
    "gateway.mfa.middleware.AdminMfaMiddleware",
    "gateway.core.browser_only.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "axes.middleware.AxesMiddleware",
]


def test_the_middleware_is_the_list_the_route_was_compared_against(settings):
    assert settings.MIDDLEWARE == _REVIEWED_MIDDLEWARE


def test_one_request_id_whoever_answers(payment):
    stranger = ApiClientFactory(name="stranger")
    status, headers, body = _call(application, f"/api/v1/payments/{payment.public_id}", key=stranger.raw_key)

    assert status == "404 Not Found"
    assert json.loads(body)["error"]["request_id"] == headers["X-Request-ID"]
    sent = _call(
        application,
        f"/api/v1/payments/{payment.public_id}",
        key=stranger.raw_key,
        HTTP_X_REQUEST_ID="merchant-trace-1",
    )
    assert sent[1]["X-Request-ID"] == "merchant-trace-1"


@pytest.mark.parametrize(
    "environ",
    [
        {"QUERY_STRING": "format=json"},
        {"HTTP_ORIGIN": "https://shop.example"},
        {"HTTP_ACCEPT": "text/html"},
        {"CONTENT_TYPE": "text/plain; charset=zlib_codec"},
        {"CONTENT_LENGTH": "2"},
        {"HTTP_TRANSFER_ENCODING": "chunked"},
        {"REQUEST_METHOD": "HEAD"},
        {"HTTP_HOST": "evil.example"},
    ],
    ids=lambda environ: next(iter(environ)),
)
def test_what_is_not_plain_goes_to_django(merchant, payment, environ):
    reached = []

    def django(environ, start_response):
        reached.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return [b""]

    _call(PaymentReadRoute(django), f"/api/v1/payments/{payment.public_id}", key=merchant.raw_key, **environ)
    assert reached == [f"/api/v1/payments/{payment.public_id}"]


@pytest.mark.parametrize(
    "overrides",
    [{"PAYMENT_READ_ROUTE": False}, {"TRACING_ENABLED": True}],
    ids=["switched off", "tracing on"],
)
def test_the_route_can_be_switched_off_and_is_off_under_tracing(merchant, payment, overrides):
    reached = []

    def django(environ, start_response):
        reached.append(True)
        start_response("204 No Content", [])
        return [b""]

    with override_settings(**overrides):
        route = PaymentReadRoute(django)
    _call(route, f"/api/v1/payments/{payment.public_id}", key=merchant.raw_key)
    assert reached == [True]


def test_its_requests_are_in_the_views_metrics(merchant, payment):
    labels = {"view": "payment-detail", "method": "GET"}
    name = "django_http_requests_latency_seconds_by_view_method_count"
    before = REGISTRY.get_sample_value(name, labels) or 0

    _call(
        PaymentReadRoute(_django_never_called), f"/api/v1/payments/{payment.public_id}", key=merchant.raw_key
    )

    assert REGISTRY.get_sample_value(name, labels) == before + 1
    status_labels = {"view": "payment-detail", "method": "GET", "status": "200"}
    assert REGISTRY.get_sample_value("django_http_responses_total_by_status_view_method_total", status_labels)
