"""/health (liveness) and /health/ready (readiness), called as a load balancer
calls them: without an API key."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous():
    # Not named `api`: that is the merchant's client with a key (payments.tests.fixtures).
    return APIClient()


def test_health_answers_like_the_seed(anonymous):
    response = anonymous.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "service", "version", "timestamp"}
    assert body["status"] == "healthy"
    assert body["service"] == "payment-gateway"
    assert re.fullmatch(r"\d+\.\d+\.\d+", body["version"])
    assert abs(datetime.fromisoformat(body["timestamp"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_health_and_ready_need_no_key_and_ignore_a_wrong_one(redis_client, localstripe):
    # A probe sends no key; a stray wrong one must not take the process out of rotation.
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer gw_wrong_key_000000000000000000")

    assert wrong.get("/health").status_code == 200
    assert wrong.get("/health/ready").status_code == 200
    assert wrong.get("/api/v1/payments").status_code == 401  # the key is wrong where one is needed


def test_ready_reports_every_real_dependency_ok(anonymous, redis_client, kafka_brokers, localstripe):
    response = anonymous.get("/health/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "redis": "ok",
        "kafka": "ok",
        "psp": "ok",
        "outbox": "ok",
    }


def test_ready_reports_the_database_it_checked(anonymous, settings):
    # Django names MariaDB's vendor "mysql"; the suite runs on MariaDB (make services).
    vendor = {"django.db.backends.mysql": "mysql", "django.db.backends.sqlite3": "sqlite"}[
        settings.DATABASES["default"]["ENGINE"]
    ]

    database = anonymous.get("/health/ready").json()["checks"]["database"]

    assert (database["status"], database["required"], database["detail"]) == ("ok", True, vendor)
    assert database["latency_ms"] >= 0


def test_ready_answers_503_when_the_database_is_unreachable(anonymous, monkeypatch, closed_port, localstripe):
    from django.db import connection

    import gateway.core.health

    # The check's connection, pointed at a port where nothing listens: the test
    # database itself must stay up for the rest of the request.
    unreachable = connection.__class__(
        {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": closed_port}, alias="unreachable"
    )
    monkeypatch.setattr(gateway.core.health, "connection", unreachable)

    response = anonymous.get("/health/ready")

    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "not_ready"
    assert (body["checks"]["database"]["status"], body["checks"]["database"]["required"]) == ("down", True)


def test_ready_reports_kafka_down_and_stays_ready(anonymous, settings, closed_port, localstripe):
    # Payments go on without Kafka (their events wait in the outbox), so a Kafka
    # outage must not take every gateway process out of the load balancer.
    settings.KAFKA_BROKERS = [f"127.0.0.1:{closed_port}"]

    response = anonymous.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["kafka"]["status"] == "down"
    assert body["checks"]["kafka"]["required"] is False
    assert body["checks"]["psp"]["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.reliability(
    "Security hardening",
    "/health/ready does not require the PSP and gives details to internal callers only; /metrics needs the "
    "token through the ingress; GET /stripe/payment/{id} reads the PSP only for open payments, under "
    "psp_read",
)
def test_ready_reports_the_psp_down_and_stays_ready(anonymous, settings, closed_port):
    # A Stripe incident must not take reads, refund status, the admin and
    # webhooks out of the load balancer with it.
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"

    response = anonymous.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"]["psp"] | {"latency_ms": None} == {
        "status": "down",
        "required": False,
        "latency_ms": None,
        "detail": response.json()["checks"]["psp"]["detail"],
    }


@pytest.mark.reliability(
    "Security hardening",
    "/health/ready does not require the PSP and gives details to internal callers only; /metrics needs the "
    "token through the ingress; GET /stripe/payment/{id} reads the PSP only for open payments, under "
    "psp_read",
)
def test_ready_details_and_metrics_go_to_internal_callers_only(anonymous, settings, localstripe):
    settings.METRICS_TOKEN = "metrics-token-for-the-test"
    through_ingress = {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}  # from loopback, but relayed by a proxy
    token = {"HTTP_AUTHORIZATION": "Bearer metrics-token-for-the-test"}

    public = anonymous.get("/health/ready", **through_ingress)
    with_token = anonymous.get("/health/ready", **through_ingress, **token)
    outsider = APIClient(REMOTE_ADDR="198.51.100.20").get("/health/ready")

    assert public.status_code == 200 and set(public.json()) == {"status", "service", "version", "timestamp"}
    assert "checks" not in outsider.json()
    assert "database" in with_token.json()["checks"]
    assert "database" in anonymous.get("/health/ready").json()["checks"]  # directly, from an internal network
    assert anonymous.get("/metrics", **through_ingress).status_code == 403
    assert anonymous.get("/metrics", **through_ingress, **token).status_code == 200
    assert anonymous.get("/metrics").status_code == 200


def test_ready_treats_unset_kafka_as_disabled_not_down(anonymous, settings, localstripe):
    settings.KAFKA_BROKERS = []
    settings.REDIS_URL = ""

    response = anonymous.get("/health/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["kafka"]["status"] == "disabled"
    assert body["checks"]["redis"]["status"] == "disabled"


def test_ready_answers_503_when_redis_is_unreachable(anonymous, settings, closed_port, localstripe):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    settings.KAFKA_BROKERS = []

    response = anonymous.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["status"] == "down"
