"""Which payments are held for a code, how long, and with Redis down.

One-time codes against real Redis (the cache), Django's locmem mailbox and localstripe.

Celery runs in-process here and the after-commit callbacks are executed, so
the code is made and "sent" within the request, as `make run` does it.
"""

import pytest

from otp.services import otp_expire_payments
from otp.tests.support import EMAIL, events_of
from payments.models import Payment


@pytest.mark.django_db
def test_otp_needs_an_email_and_thresholds_apply(pay, settings, otp_env):
    settings.OTP_REQUIRED_ABOVE = {"usd": 1000}

    without_email = pay()
    with otp_env():
        above = pay(email=EMAIL, amount="10.01")
        below = pay(email=EMAIL, amount="10.00")

    assert without_email.status_code == 400
    assert without_email.json()["error"]["param"] == "email"
    assert above.json()["status"] == "requires_otp"
    assert below.json()["status"] == "succeeded"


@pytest.mark.reliability("Security hardening", "OTP thresholds fail closed for a currency they do not cover")
@pytest.mark.django_db
def test_a_currency_the_thresholds_do_not_cover_is_held_for_a_code(pay, settings, otp_env):
    """Fails closed: with thresholds set, a currency without its own entry and
    without "*" is held whatever the amount; "*" covers every unlisted one."""
    settings.OTP_REQUIRED_ABOVE = {"usd": 100000}
    with otp_env():
        unlisted = pay(email=EMAIL, amount="5", currency="jpy")
    settings.OTP_REQUIRED_ABOVE = {"usd": 100000, "*": 10000}
    with otp_env():
        covered_below = pay(email=EMAIL, amount="5", currency="jpy")
        covered_above = pay(email=EMAIL, amount="10001", currency="jpy")
    settings.OTP_REQUIRED_ABOVE = {}
    unconfigured = pay(amount="5", currency="jpy")

    assert unlisted.json()["status"] == "requires_otp"
    assert covered_below.json()["status"] == "succeeded"
    assert covered_above.json()["status"] == "requires_otp"
    assert unconfigured.json()["status"] == "succeeded"


@pytest.mark.django_db
def test_a_payment_waiting_too_long_is_canceled(held, settings):
    body = held()
    settings.OTP_PAYMENT_EXPIRY_MINUTES = 0

    assert otp_expire_payments() == 1

    payment = Payment.objects.get(public_id=body["payment_id"])
    assert payment.status == "canceled"
    assert events_of(body["payment_id"])[-2:] == ["otp_expired", "canceled"]


@pytest.mark.reliability("Faults", "Redis stopped: payments work, rate limits fail open, OTP answers 503")
@pytest.mark.django_db
def test_otp_answers_503_when_redis_is_down(api, pay, settings, otp_env, closed_port):
    body = pay(require_otp=True, email=EMAIL).json()  # held; no code sent (callbacks not run)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    response = api.post("/api/v1/payments/OTP", {"payment_id": body["payment_id"]}, format="json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "otp_unavailable"
