from datetime import datetime

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def test_health_answers_like_the_seed(api):
    response = api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "payment-gateway"
    assert body["version"]
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None


def test_ready_reports_every_real_dependency_ok(api, redis_client, kafka_brokers, localstripe):
    response = api.get("/health/ready")

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


def test_ready_reports_the_database_vendor(api):
    from django.db import connection

    body = api.get("/health/ready").json()

    assert body["checks"]["database"]["detail"] == connection.vendor


def test_ready_reports_kafka_down_and_stays_ready(api, settings, closed_port, localstripe):
    # Payments go on without Kafka (their events wait in the outbox), so a Kafka
    # outage must not take every gateway process out of the load balancer.
    settings.KAFKA_BROKERS = [f"127.0.0.1:{closed_port}"]

    response = api.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["kafka"]["status"] == "down"
    assert body["checks"]["kafka"]["required"] is False
    assert body["checks"]["psp"]["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


def test_ready_answers_503_when_the_psp_is_unreachable(api, settings, closed_port):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"

    response = api.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["psp"]["status"] == "down"


def test_ready_treats_unset_kafka_as_disabled_not_down(api, settings, localstripe):
    settings.KAFKA_BROKERS = []
    settings.REDIS_URL = ""

    response = api.get("/health/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["kafka"]["status"] == "disabled"
    assert body["checks"]["redis"]["status"] == "disabled"


def test_ready_answers_503_when_redis_is_unreachable(api, settings, closed_port, localstripe):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    settings.KAFKA_BROKERS = []

    response = api.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["status"] == "down"
