"""The PSP client's HTTP layer (stripe_integration.client._PooledHTTPClient):
urllib3's pools under stripe-python, against real sockets."""

import pytest
import stripe
import urllib3

from stripe_integration import client


def test_the_environment_proxy_is_used_unless_no_proxy_names_the_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert isinstance(
        client._PooledHTTPClient(timeout=5, base="https://api.stripe.com")._pool, urllib3.ProxyManager
    )

    monkeypatch.setenv("HTTPS_PROXY", "http://gw%40pay:s3cret@proxy.example:3128")
    with_credentials = client._PooledHTTPClient(timeout=5, base="https://api.stripe.com")._pool
    assert (
        with_credentials.proxy_headers["proxy-authorization"]
        == urllib3.make_headers(proxy_basic_auth="gw@pay:s3cret")["proxy-authorization"]
    )

    monkeypatch.setenv("NO_PROXY", "api.stripe.com")
    direct = client._PooledHTTPClient(timeout=5, base="https://api.stripe.com")._pool
    assert not isinstance(direct, urllib3.ProxyManager)


def test_a_refused_connection_is_a_retryable_connection_error(closed_port):
    http = client._PooledHTTPClient(timeout=2, base=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(stripe.APIConnectionError) as raised:
        http.request("get", f"http://127.0.0.1:{closed_port}/v1/balance", {})

    assert raised.value.should_retry is True  # stripe-python retries it, with the idempotency key


def test_a_psp_that_does_not_answer_times_out(silent_port):
    http = client._PooledHTTPClient(timeout=0.5, base=f"http://127.0.0.1:{silent_port}")

    with pytest.raises(stripe.APIConnectionError, match="Timeout"):
        http.request("post", f"http://127.0.0.1:{silent_port}/v1/payment_intents", {}, "amount=100")


def test_answers_keep_their_status_and_headers_and_connections_are_reused(localstripe, settings):
    http = client._PooledHTTPClient(timeout=5, base=settings.STRIPE_API_BASE)
    headers = {"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"}

    body, status, response_headers = http.request("get", f"{settings.STRIPE_API_BASE}/v1/balance", headers)
    again = http.request("get", f"{settings.STRIPE_API_BASE}/v1/balance", headers)
    missing = http.request("get", f"{settings.STRIPE_API_BASE}/v1/payment_intents/pi_missing", headers)

    assert status == 200 and b'"available"' in body
    assert response_headers["content-type"].startswith("application/json")  # case-insensitive
    assert again[1] == 200
    assert missing[1] == 404  # an HTTP error is an answer here; stripe-python raises on it
    pool = http._pool.connection_from_url(settings.STRIPE_API_BASE)
    assert pool.num_connections == 1  # one connection, kept alive, served all three
