"""Faults with real processes: MariaDB and Redis are stopped and started
again (scripts/services.sh) while a gateway runs under its server (Granian). Kafka's
outage is in test_events.py, the PSP's in payments/tests/services/test_psp_outages.py,
the crash in test_crash.py. Like the Kafka test, these need the services to
have been started by this checkout (`make services`)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from django.db import connection

from conftest import server_start, services_command
from payments.models import Payment


def _pay(base: str, key: str, order_id: str, **extra) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/payments/process",
        json={
            "order_id": order_id,
            "amount": "4.00",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            **extra,
        },
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


@pytest.mark.reliability(
    "Faults",
    "MariaDB restarted: 503 database_unavailable, then 201; nothing half-written",
)
@pytest.mark.django_db(transaction=True)
def test_with_mariadb_restarted_requests_get_503_then_succeed(merchant, localstripe):
    prefix = f"dbfault-{uuid.uuid4().hex[:8]}"
    server, base = server_start()
    try:
        before = _pay(base, merchant.raw_key, f"{prefix}-before")
        services_command("mariadb-stop")
        try:
            during = [_pay(base, merchant.raw_key, f"{prefix}-during-{n}") for n in range(3)]
        finally:
            services_command("mariadb-start")
            connection.close()  # this test's own connection died with the server
        after = None
        for _ in range(20):  # the connections the workers held are checked and reopened
            after = _pay(base, merchant.raw_key, f"{prefix}-after")
            if after.status_code == 201:
                break
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=35)

    assert before.status_code == 201
    for response in during:
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["code"] == "database_unavailable" and "Traceback" not in response.text
        assert response.headers["Retry-After"]
    assert after.status_code == 201, after.text
    # Nothing half-written: the refused payments do not exist at all.
    assert not Payment.objects.filter(order_id__startswith=f"{prefix}-during").exists()
    assert Payment.objects.get(order_id=f"{prefix}-after").status == "succeeded"


@pytest.mark.reliability("Faults", "Redis stopped: payments work, rate limits fail open, OTP answers 503")
@pytest.mark.django_db(transaction=True)
def test_with_redis_stopped_payments_work_limits_fail_open_and_otp_is_503(merchant, localstripe):
    prefix = f"redisfault-{uuid.uuid4().hex[:8]}"
    server, base = server_start()
    try:
        _pay(base, merchant.raw_key, f"{prefix}-warm")  # the key is now cached in Redis
        held = _pay(base, merchant.raw_key, f"{prefix}-held", require_otp=True, email="p@example.com")
        assert held.status_code == 201 and held.json()["status"] == "requires_otp", held.text
        services_command("redis-stop")
        try:
            paid = _pay(base, merchant.raw_key, f"{prefix}-paid")
            otp = requests.post(
                f"{base}/api/v1/payments/validate",
                json={"payment_id": held.json()["payment_id"], "otp": "123456"},
                headers={"Authorization": f"Bearer {merchant.raw_key}"},
                timeout=30,
            )
        finally:
            services_command("redis-start")
    finally:
        server.terminate()
        server.wait(timeout=35)

    assert paid.status_code == 201, paid.text  # rate limits failed open, the key came from the database
    assert paid.json()["status"] == "succeeded"
    assert otp.status_code == 503, otp.text
    assert otp.json()["error"]["code"] in {"otp_unavailable", "service_unavailable"}
