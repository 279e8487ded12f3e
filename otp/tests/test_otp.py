"""One-time codes against real Redis (the cache), Django's locmem mailbox and localstripe.

Celery runs in-process here and the after-commit callbacks are executed, so
the code is made and "sent" within the request, as `make run` does it.
"""

import logging
import re
import time
import uuid

import pytest
from django.core import mail
from rest_framework.test import APIClient

from otp import store
from otp.services import otp_expire_payments
from payments.models import Payment, PaymentEvent
from payments.tests.fixtures import payment_body, psp_intents, run_at_once

EMAIL = "jane.doe@example.com"


@pytest.fixture
def otp_env(settings, redis_client, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.OTP_RESEND_COOLDOWN_SECONDS = 1
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def held(pay, otp_env):
    """A payment held for OTP, whose first code has been e-mailed."""

    def _held(**overrides):
        with otp_env():
            body = pay(
                require_otp=True, email=EMAIL, order_id=f"order_{uuid.uuid4().hex[:8]}", **overrides
            ).json()
        assert body["status"] == "requires_otp", body
        return body

    return _held


def _last_code() -> str:
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def _validate(api, payment_id, code):
    return api.post("/api/v1/payments/validate", {"payment_id": payment_id, "otp": code}, format="json")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _events(payment_id):
    return list(PaymentEvent.objects.filter(payment__public_id=payment_id).values_list("type", flat=True))


@pytest.mark.django_db
def test_the_full_path_from_hold_to_code_to_charge(api, held):
    body = held()

    code = _last_code()
    message = mail.outbox[-1]
    assert message.to == [EMAIL]
    assert body["order_id"] in message.subject
    assert "$19.99" in message.body and "merchant" in message.body and "5 minutes" in message.body
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    response = _validate(api, body["payment_id"], code)

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "succeeded"
    assert response.json()["transaction_id"].startswith("pi_")
    assert _events(body["payment_id"]) == [
        "created",
        "requires_otp",
        "otp_sent",
        "otp_verified",
        "processing",
        "charge_succeeded",
    ]


@pytest.mark.django_db
def test_a_wrong_code_then_the_right_one(api, held):
    body = held()
    code = _last_code()

    wrong = _validate(api, body["payment_id"], _wrong(code))
    right = _validate(api, body["payment_id"], code)

    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "otp_invalid"
    assert wrong.json()["error"]["attempts_left"] == 4
    assert right.status_code == 200
    assert "otp_failed" in _events(body["payment_id"])


@pytest.mark.django_db
def test_five_wrong_codes_lock_the_code_and_the_right_one_then_fails(api, held, otp_env):
    body = held()
    code = _last_code()

    answers = [_validate(api, body["payment_id"], _wrong(code)) for _ in range(5)]
    after = _validate(api, body["payment_id"], code)

    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[-1].json()["error"]["code"] == "otp_locked"
    assert after.status_code in (410, 429)
    assert Payment.objects.get(public_id=body["payment_id"]).status == "requires_otp"  # a typo never kills it
    assert "otp_locked" in _events(body["payment_id"])
    # After the cooldown a new code can be requested, and it works.
    time.sleep(1.1)
    with otp_env():
        resent = api.post("/api/v1/payments/OTP", {"payment_id": body["payment_id"]}, format="json")
    assert resent.status_code == 202
    assert _validate(api, body["payment_id"], _last_code()).status_code == 200


@pytest.mark.django_db
def test_an_expired_code_is_refused(api, held, settings):
    settings.OTP_TTL_SECONDS = 1
    body = held()
    code = _last_code()
    time.sleep(1.5)

    response = _validate(api, body["payment_id"], code)

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "otp_expired"


@pytest.mark.django_db
def test_a_code_is_single_use(api, held):
    body = held()
    code = _last_code()

    assert _validate(api, body["payment_id"], code).status_code == 200
    again = _validate(api, body["payment_id"], code)

    assert again.status_code == 409  # the payment is no longer waiting for a code
    assert store.code_digest_get(payment_uuid=Payment.objects.get(public_id=body["payment_id"]).uuid) is None


@pytest.mark.django_db
def test_resend_has_a_cooldown_and_replaces_the_code(api, held, otp_env):
    body = held()
    first = _last_code()

    too_soon = api.post("/api/v1/payments/OTP", {"payment_id": body["payment_id"]}, format="json")
    time.sleep(1.1)
    with otp_env():
        later = api.post(
            "/api/v1/payments/OTP", {"order_id": body["order_id"], "email": EMAIL}, format="json"
        )
    second = _last_code()

    assert too_soon.status_code == 429
    assert int(too_soon["Retry-After"]) >= 1
    assert later.status_code == 202
    assert later.json() == {"expires_in": 300, "resend_available_in": 1}
    assert first not in later.content.decode()
    if first != second:
        assert _validate(api, body["payment_id"], first).status_code == 401
    assert _validate(api, body["payment_id"], second).status_code == 200


@pytest.mark.django_db
def test_a_payment_is_looked_up_only_with_a_matching_email(api, held):
    body = held()

    response = api.post(
        "/api/v1/payments/OTP", {"payment_id": body["payment_id"], "email": "eve@example.com"}, format="json"
    )
    email_only = api.post("/api/v1/payments/OTP", {"email": EMAIL}, format="json")

    assert response.status_code == 404
    assert email_only.status_code == 400


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
def test_the_code_is_in_no_log_response_or_redis_value(api, held, caplog, redis_client):
    caplog.set_level(logging.DEBUG)
    body = held()
    code = _last_code()
    wrong = _validate(api, body["payment_id"], _wrong(code))

    values = []
    for key in redis_client.scan_iter(count=1000):
        if redis_client.type(key) == b"string":
            values.append(redis_client.get(key) or b"")
    logs = "\n".join(r.getMessage() for r in caplog.records)

    assert code not in logs
    assert EMAIL not in logs and "j***@example.com" in logs
    assert code not in wrong.content.decode()
    assert all(code.encode() not in value for value in values)
    assert any(store.code_digest(code).encode() in value for value in values)  # only its HMAC


@pytest.mark.django_db
def test_smtp_down_keeps_the_payment_held_and_the_send_is_retried(
    pay, settings, otp_env, closed_port, caplog
):
    from otp.tasks import otp_send_task

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    caplog.set_level(logging.WARNING, logger="otp")

    with otp_env():
        response = pay(require_otp=True, email=EMAIL)
    payment = Payment.objects.get(public_id=response.json()["payment_id"])
    caplog.clear()
    # Run the task as a worker would, through all its retries (eagerly: no waiting for the backoff).
    app = otp_send_task.app
    propagates, app.conf.task_eager_propagates = app.conf.task_eager_propagates, False
    try:
        result = otp_send_task.apply(args=[payment.pk])
    finally:
        app.conf.task_eager_propagates = propagates

    assert response.status_code == 201
    assert response.json()["status"] == "requires_otp"
    tries = [r.getMessage() for r in caplog.records if "OTP delivery" in r.getMessage()]
    assert [t.split("(try ")[1][:6] for t in tries] == [f"{n} of 6" for n in range(1, 7)]
    assert result.state == "FAILURE"  # given up after the last retry; the payment is still held
    assert Payment.objects.get(pk=payment.pk).status == "requires_otp"
    assert "otp_sent" not in _events(payment.public_id)
    # SMTP is back: the next try delivers a code.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert otp_send_task.apply(args=[payment.pk]).get() is True
    assert len(mail.outbox) == 1 and "otp_sent" in _events(payment.public_id)


@pytest.mark.django_db
def test_a_payment_waiting_too_long_is_canceled(held, settings):
    body = held()
    settings.OTP_PAYMENT_EXPIRY_MINUTES = 0

    assert otp_expire_payments() == 1

    payment = Payment.objects.get(public_id=body["payment_id"])
    assert payment.status == "canceled"
    assert _events(body["payment_id"])[-2:] == ["otp_expired", "canceled"]


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


@pytest.mark.django_db(transaction=True)
def test_two_threads_validating_the_same_code_charge_once(merchant, localstripe, settings, redis_client):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")
    order_id = f"order_{uuid.uuid4().hex}"
    body = api.post(
        "/api/v1/payments/process",
        payment_body(require_otp=True, email=EMAIL, order_id=order_id),
        format="json",
    ).json()
    code = _last_code()

    def validate() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")
        return _validate(client, body["payment_id"], code).status_code

    statuses = run_at_once(2, validate)

    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (409, 410)
    assert len(psp_intents(order_id=order_id)) == 1
