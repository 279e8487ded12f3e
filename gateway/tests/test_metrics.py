"""GET /metrics: Prometheus text, for the configured networks or a token only."""

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _value(text: str, name: str, **labels) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def _scrape(client=None) -> str:
    response = (client or APIClient()).get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_count_payments_psp_calls_and_requests(pay):
    before = _scrape()
    pay()
    after = _scrape()

    assert _value(after, "gateway_payments", currency="usd", status="succeeded") == 1
    assert (
        _value(after, "gateway_psp_request_seconds_count")
        >= _value(before, "gateway_psp_request_seconds_count") + 2
    )
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in after
    assert "gateway_outbox_pending" in after and "gateway_outbox_oldest_age_seconds" in after


def test_rate_limit_rejections_and_psp_errors_are_counted(api, pay, settings, redis_client):
    from payments.tests.fixtures import card

    before = _scrape()
    pay(card=card("4000000000000341"))
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "default": "1/m"}
    api.get("/api/v1/payments")
    api.get("/api/v1/payments")
    after = _scrape()

    assert (
        _value(after, "gateway_psp_errors_total", code="card_declined")
        == _value(before, "gateway_psp_errors_total", code="card_declined") + 1
    )
    assert (
        _value(after, "gateway_rate_limit_rejections_total", scope="default")
        >= _value(before, "gateway_rate_limit_rejections_total", scope="default") + 1
    )


def test_metrics_are_refused_outside_the_allowed_networks_without_the_token(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    outsider = APIClient(REMOTE_ADDR="203.0.113.5")

    refused = outsider.get("/metrics")
    with_token = outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert refused.status_code == 403
    assert with_token.status_code == 200 and b"gateway_payments" in with_token.content


@pytest.mark.reliability(
    "Security hardening",
    "/health/ready limited per IP, its Kafka and PSP checks cached; /metrics token compared in constant time",
)
def test_the_metrics_token_is_compared_in_constant_time(settings, monkeypatch):
    import gateway.core.metrics

    settings.METRICS_TOKEN = "scrape-secret"
    compared = []
    real = gateway.core.metrics.hmac.compare_digest
    monkeypatch.setattr(
        gateway.core.metrics.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b)
    )
    outsider = APIClient(REMOTE_ADDR="203.0.113.5")

    wrong = outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secreT")
    right = outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert (wrong.status_code, right.status_code) == (403, 200)
    assert (b"Bearer scrape-secreT", b"Bearer scrape-secret") in compared
