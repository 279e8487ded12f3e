"""Per-client rate limits, counted in real Redis."""

import logging
import random

import pytest
import requests
from rest_framework.test import APIClient

from conftest import server_start
from gateway.core.ratelimit import client_ip, rate_parse, usage_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings, redis_client):
    def _set(**scopes):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **scopes}

    return _set


def test_the_limit_is_per_client_with_retry_after_and_ratelimit_headers(api, other_api, limits):
    limits(default="3/m")

    answers = [api.get("/api/v1/payments") for _ in range(4)]
    other = other_api.get("/api/v1/payments")

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0]["RateLimit-Limit"] == "3"
    limited = answers[-1]
    assert (limited.json()["error"]["type"], limited.json()["error"]["code"]) == (
        "rate_limit_error",
        "rate_limited",
    )
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["RateLimit-Reset"] == limited["Retry-After"]  # one number, never "reset in 0 s"
    assert other.status_code == 200  # another client has its own budget


def test_validate_card_has_its_own_stricter_limit(api, limits):
    limits(default="100/m", validate_card="2/m")
    body = {"card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}}

    cards = [api.post("/api/v1/stripe/validate-card", body, format="json").status_code for _ in range(3)]

    assert cards == [200, 200, 429]
    assert api.get("/api/v1/payments").status_code == 200


def test_health_is_not_limited_and_the_webhook_has_its_own_limit(client, limits):
    limits(default="1/m")

    assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]
    # An unsigned delivery is a 400 from the signature check, never a 429.
    assert [
        client.post("/api/v1/stripe/webhook", "{}", content_type="application/json").status_code
        for _ in range(3)
    ] == [400, 400, 400]


def test_public_endpoints_are_counted_per_ip(limits):
    # The OpenAPI schema takes no key; it is limited per client IP.
    limits(default="2/m")
    # Addresses new to this run: Redis keeps counters between runs within the window.
    first, second = (
        APIClient(REMOTE_ADDR=f"10.{random.randrange(256)}.{random.randrange(256)}.{n}") for n in (1, 2)
    )

    answers = [first.get("/api/schema/").status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert second.get("/api/schema/").status_code == 200


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(rf, settings):
    spoofed = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.1.1.1")
    proxied = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7")
    settings.RATELIMIT_TRUSTED_PROXIES = ["10.0.0.0/8"]

    assert client_ip(spoofed) == "203.0.113.9"
    assert client_ip(proxied) == "198.51.100.7"


def test_with_redis_down_requests_pass_and_a_warning_is_logged(api, settings, closed_port, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
        }
    }
    caplog.set_level(logging.WARNING, logger="gateway.core.ratelimit")

    response = api.get("/api/v1/payments")

    assert response.status_code == 200
    assert "Rate limiting is off" in caplog.text


def test_with_redis_down_and_fail_closed_the_answer_is_503(api, settings, closed_port):
    settings.RATELIMIT_FAIL_OPEN = False
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.3, "SOCKET_TIMEOUT": 0.3},
        }
    }

    response = api.get("/api/v1/payments")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rate_limit_unavailable"


@pytest.mark.reliability("Concurrency", "Two server processes share one rate limit")
@pytest.mark.django_db(transaction=True)
def test_two_server_processes_share_one_limit_through_redis(merchant, redis_client):
    # An hour's window: a window boundary cannot fall inside the test.
    servers = [server_start(RATE_LIMIT_DEFAULT="10/h") for _ in range(2)]
    try:
        headers = {"Authorization": f"Bearer {merchant.raw_key}"}
        answers = [
            (base, requests.get(f"{base}/api/v1/payments", headers=headers, timeout=10).status_code)
            for _ in range(8)
            for _, base in servers
        ]
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=35)

    statuses = [status for _, status in answers]
    assert statuses.count(200) == 10  # one budget for both processes, not 10 each
    assert statuses.count(429) == 6
    assert statuses[:10] == [200] * 10  # the budget is spent in order, across both
    for _, base in servers:
        assert {status for b, status in answers if b == base} == {200, 429}


def _new_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.mark.reliability(
    "Security hardening",
    "Missing or wrong API keys limited per address and per key prefix (429), consulted only after a lookup "
    "failed: a valid key is never refused for other callers' wrong keys; made-up prefixes cost no query; a "
    "revoked key cannot be cached back by a racing read",
)
def test_missing_and_wrong_api_keys_are_limited_per_address_and_a_good_key_still_works(limits, merchant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    limits(unauthenticated="3/m")
    ip = _new_ip()
    wrong = APIClient(REMOTE_ADDR=ip)
    wrong.credentials(HTTP_AUTHORIZATION="Bearer gw_wrong_key_000000000000000000")
    missing = APIClient(REMOTE_ADDR=ip)
    good = APIClient(REMOTE_ADDR=ip)
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")

    answers = [wrong.get("/api/v1/payments").status_code, missing.get("/api/v1/payments").status_code]
    answers.append(wrong.get("/api/v1/payments").status_code)
    with CaptureQueriesContext(connection) as queries:
        limited = wrong.get("/api/v1/payments")
    elsewhere = APIClient(REMOTE_ADDR=_new_ip()).get("/api/v1/payments")

    assert answers == [401, 401, 401]
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
    assert int(limited["Retry-After"]) >= 1
    # A made-up prefix is remembered as absent: a flood of them costs no query.
    assert not [q for q in queries.captured_queries if "payments_apiclient" in q["sql"]]
    assert missing.get("/api/v1/payments").status_code == 429
    assert elsewhere.status_code == 401  # another address has its own budget
    # The budget is consulted only after a lookup failed: a good key from that address works.
    assert good.get("/api/v1/payments").status_code == 200


@pytest.mark.reliability(
    "Security hardening",
    "Missing or wrong API keys limited per address and per key prefix (429), consulted only after a lookup "
    "failed: a valid key is never refused for other callers' wrong keys; made-up prefixes cost no query; a "
    "revoked key cannot be cached back by a racing read",
)
def test_a_revoked_key_cannot_be_cached_back_by_a_read_that_began_before_the_revocation(merchant):
    """A read that found the client active, then wrote its cache entry after the
    revocation, does not bring the client back: the entry is of the version
    before the revocation."""
    from unittest import mock

    from django.core.cache import cache

    from payments import selectors
    from payments.models import ApiClient
    from payments.selectors import api_client_get_by_key
    from payments.services.api_clients import api_client_revoke

    api_client_get_by_key(raw_key=merchant.raw_key)  # cached, as any earlier request would have
    stale = ApiClient.objects.get(pk=merchant.pk)  # what the slow read got from the database

    def read_then_revoke(*args, **kwargs):
        api_client_revoke(client=ApiClient.objects.get(pk=merchant.pk))  # commits, marks the entry changed
        return mock.Mock(first=lambda: stale)

    cache.delete(f"apiclient:{merchant.key_prefix}")  # its entry expired: the next read queries
    with mock.patch.object(ApiClient.objects, "filter", side_effect=read_then_revoke):
        raced = selectors.api_client_get_by_key(raw_key=merchant.raw_key)

    assert raced is not None  # that one request was already in flight
    assert selectors.api_client_get_by_key(raw_key=merchant.raw_key) is None  # revoked at once after it


@pytest.mark.reliability(
    "Security hardening",
    "/health/ready limited per IP, its Kafka and PSP checks cached; /metrics token compared in constant time",
)
def test_health_ready_is_limited_per_ip_and_its_remote_checks_are_cached(
    limits, settings, monkeypatch, redis_client, localstripe
):
    import gateway.core.health
    import stripe_integration.health

    # An hour's window and an hour's cache: neither can end inside the test, however slow the machine.
    limits(health_ready="3/h")
    settings.HEALTH_CHECK_CACHE_SECONDS = 3600
    calls = []
    real_ping = stripe_integration.health.psp_ping
    monkeypatch.setattr(stripe_integration.health, "psp_ping", lambda: calls.append(1) or real_ping())
    monkeypatch.setattr(gateway.core.health, "_REMOTE_RESULTS", {})  # no result cached by an earlier test
    poller = APIClient(REMOTE_ADDR=_new_ip())

    answers = [poller.get("/health/ready") for _ in range(4)]
    elsewhere = APIClient(REMOTE_ADDR=_new_ip()).get("/health/ready")

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert (limited.json()["error"]["type"], limited.json()["error"]["code"]) == (
        "rate_limit_error",
        "rate_limited",
    )
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert "checks" not in limited.json()  # refused before any check ran
    assert elsewhere.status_code == 200  # another address has its own budget
    assert elsewhere["RateLimit-Remaining"] == "2"
    assert len(calls) == 1  # four checks within HEALTH_CHECK_CACHE_SECONDS: one PSP call
    assert poller.get("/health").status_code == 200  # /health stays cheap and public


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("100/s", (100, 1)),
        ("20/m", (20, 60)),
        ("5/10m", (5, 600)),
        ("7/d", (7, 86400)),
        ("3/H", (3, 3600)),
        ("100/10", (100, 10)),
    ],
)
def test_rates_are_read_as_django_ratelimit_reads_them(rate, parsed):
    assert rate_parse(rate) == parsed


@pytest.mark.parametrize("rate", ["100 per second", "100/min", "5/0m", "100/"])
def test_a_rate_that_is_not_one_is_refused(rate):
    with pytest.raises(ValueError, match="Not a rate"):
        rate_parse(rate)


def test_a_rate_that_cannot_be_read_stops_start_up(settings):
    from django.core.exceptions import ImproperlyConfigured

    from gateway.core.ratelimit import rate_limits_validate

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "validate_card": "10/min"}
    with pytest.raises(ImproperlyConfigured, match="validate_card"):
        rate_limits_validate()


def test_a_window_is_counted_in_redis_and_expires_with_its_window(rf, redis_client):
    identity = f"client:test-{random.randrange(10**9)}"
    request = rf.get("/")

    counted = [
        usage_count(request, group="t", identity=identity, rate="2/m", increment=True) for _ in range(3)
    ]
    looked = usage_count(request, group="t", identity=identity, rate="2/m", increment=False)

    assert [u["count"] for u in counted] == [1, 2, 3]
    assert [u["should_limit"] for u in counted] == [False, False, True]
    assert looked["count"] == 3  # a look does not count
    assert all(1 <= u["time_left"] <= 60 for u in counted)
    (key,) = redis_client.keys(f"gw:rl:t:2/60s:{identity}:*")
    assert 0 < redis_client.ttl(key) <= 61  # the key goes with its window


@pytest.mark.reliability(
    "Security hardening",
    "Only invalid webhook signatures are counted: a flood of them never refuses Stripe's valid deliveries",
)
def test_a_flood_of_invalid_webhook_signatures_never_refuses_a_valid_delivery(limits, settings):
    import json

    from conftest import stripe_signature

    limits(webhook_invalid="2/m")
    sender = APIClient(REMOTE_ADDR=f"10.{random.randrange(256)}.{random.randrange(256)}.9")
    invalid = [
        sender.post(
            "/api/v1/stripe/webhook", "{}", content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=00"
        ).status_code
        for _ in range(3)
    ]
    event = {"id": f"evt_flood_{random.randrange(10**9)}", "type": "customer.created", "data": {"object": {}}}
    payload = json.dumps(event)
    valid = sender.post(
        "/api/v1/stripe/webhook",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature(payload, settings.STRIPE_WEBHOOK_SECRET),
    )

    assert invalid == [400, 400, 429]
    assert valid.status_code == 200 and valid.json()["event_id"] == event["id"]


@pytest.mark.reliability(
    "Security hardening",
    "Missing or wrong API keys limited per address and per key prefix (429), consulted only after a lookup "
    "failed: a valid key is never refused for other callers' wrong keys; made-up prefixes cost no query; a "
    "revoked key cannot be cached back by a racing read",
)
def test_a_valid_key_is_never_refused_for_other_callers_wrong_keys(api, merchant, limits):
    """The budget of wrong keys is consulted only after a lookup failed: one
    address (every caller, behind a misconfigured proxy) spending it, even with
    the valid key's own prefix, leaves the valid key working, cached or not."""
    from django.core.cache import cache

    limits(unauthenticated="3/m")
    forged = merchant.raw_key[:-4] + ("zzzz" if not merchant.raw_key.endswith("zzzz") else "yyyy")
    stranger = APIClient(REMOTE_ADDR="127.0.0.1")  # the merchant's own address
    wrong = [
        stranger.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code for _ in range(4)
    ]
    cache.delete(f"apiclient:{merchant.key_prefix}")  # the cached client expired (or Redis restarted)

    assert wrong == [401, 401, 401, 429]
    assert api.get("/api/v1/payments").status_code == 200


@pytest.mark.reliability(
    "Security hardening",
    "Missing or wrong API keys limited per address and per key prefix (429), consulted only after a lookup "
    "failed: a valid key is never refused for other callers' wrong keys; made-up prefixes cost no query; a "
    "revoked key cannot be cached back by a racing read",
)
def test_wrong_keys_are_counted_per_key_prefix_across_addresses(merchant, limits):
    limits(unauthenticated="3/m")
    forged = merchant.raw_key[:-4] + ("zzzz" if not merchant.raw_key.endswith("zzzz") else "yyyy")
    answers = [
        APIClient(REMOTE_ADDR=f"10.{random.randrange(256)}.{random.randrange(256)}.{n}")
        .get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {forged}")
        .status_code
        for n in range(4)
    ]
    other_prefix = APIClient(REMOTE_ADDR=f"10.{random.randrange(256)}.{random.randrange(256)}.77").get(
        "/api/v1/payments", HTTP_AUTHORIZATION="Bearer gw_00000000_" + "x" * 32
    )

    assert answers == [401, 401, 401, 429]
    assert other_prefix.status_code == 401
