"""Sending codes: resend limits, the payer's lookup, delivery failures, no code in any log.

One-time codes against real Redis (the cache), Django's locmem mailbox and localstripe.

Celery runs in-process here and the after-commit callbacks are executed, so
the code is made and "sent" within the request, as `make run` does it.
"""

import logging
import time

import pytest
from django.core import mail

from otp import store
from otp.tests.support import EMAIL, events_of, last_code, validate, wrong_code
from payments.models import Payment


@pytest.mark.django_db
def test_resend_has_a_cooldown_and_replaces_the_code(api, held, otp_env):
    body = held()
    first = last_code()

    too_soon = api.post("/api/v1/payments/OTP", {"payment_id": body["payment_id"]}, format="json")
    time.sleep(1.1)
    with otp_env():
        later = api.post(
            "/api/v1/payments/OTP", {"order_id": body["order_id"], "email": EMAIL}, format="json"
        )
    second = last_code()

    assert too_soon.status_code == 429
    assert int(too_soon["Retry-After"]) >= 1
    assert later.status_code == 202
    assert later.json() == {"expires_in": 300, "resend_available_in": 1}
    assert first not in later.content.decode()
    if first != second:
        assert validate(api, body["payment_id"], first).status_code == 401
    assert validate(api, body["payment_id"], second).status_code == 200


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
def test_the_code_is_in_no_log_response_or_redis_value(api, held, caplog, redis_client):
    caplog.set_level(logging.DEBUG)
    body = held()
    code = last_code()
    wrong = validate(api, body["payment_id"], wrong_code(code))

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
    assert "otp_sent" not in events_of(payment.public_id)
    # SMTP is back: the next try delivers a code.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert otp_send_task.apply(args=[payment.pk]).get() is True
    assert len(mail.outbox) == 1 and "otp_sent" in events_of(payment.public_id)
