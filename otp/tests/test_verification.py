"""Verifying a code: the right one charges, wrong ones count, expiry, single use, concurrency.

One-time codes against real Redis (the cache), Django's locmem mailbox and localstripe.

Celery runs in-process here and the after-commit callbacks are executed, so
the code is made and "sent" within the request, as `make run` does it.
"""

import time
import uuid

import pytest
from django.core import mail
from rest_framework.test import APIClient

from otp import store
from otp.tests.support import EMAIL, events_of, last_code, validate, wrong_code
from payments.models import Payment
from payments.tests.fixtures import payment_body, psp_intents, run_at_once


@pytest.mark.django_db
def test_the_full_path_from_hold_to_code_to_charge(api, held):
    body = held()

    code = last_code()
    message = mail.outbox[-1]
    assert message.to == [EMAIL]
    assert body["order_id"] in message.subject
    assert "$19.99" in message.body and "merchant" in message.body and "5 minutes" in message.body
    assert message.alternatives and message.alternatives[0][1] == "text/html"
    response = validate(api, body["payment_id"], code)

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "succeeded"
    assert response.json()["transaction_id"].startswith("pi_")
    assert events_of(body["payment_id"]) == [
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
    code = last_code()

    wrong = validate(api, body["payment_id"], wrong_code(code))
    right = validate(api, body["payment_id"], code)

    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "otp_invalid"
    assert wrong.json()["error"]["attempts_left"] == 4
    assert right.status_code == 200
    assert "otp_failed" in events_of(body["payment_id"])


@pytest.mark.django_db
def test_five_wrong_codes_lock_the_code_and_the_right_one_then_fails(api, held, otp_env):
    body = held()
    code = last_code()

    answers = [validate(api, body["payment_id"], wrong_code(code)) for _ in range(5)]
    after = validate(api, body["payment_id"], code)

    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[-1].json()["error"]["code"] == "otp_locked"
    assert after.status_code in (410, 429)
    assert Payment.objects.get(public_id=body["payment_id"]).status == "requires_otp"  # a typo never kills it
    assert "otp_locked" in events_of(body["payment_id"])
    # After the cooldown a new code can be requested, and it works.
    time.sleep(1.1)
    with otp_env():
        resent = api.post("/api/v1/payments/OTP", {"payment_id": body["payment_id"]}, format="json")
    assert resent.status_code == 202
    assert validate(api, body["payment_id"], last_code()).status_code == 200


@pytest.mark.django_db
def test_an_expired_code_is_refused(api, held, settings):
    settings.OTP_TTL_SECONDS = 1
    body = held()
    code = last_code()
    time.sleep(1.5)

    response = validate(api, body["payment_id"], code)

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "otp_expired"


@pytest.mark.django_db
def test_a_code_is_single_use(api, held):
    body = held()
    code = last_code()

    assert validate(api, body["payment_id"], code).status_code == 200
    again = validate(api, body["payment_id"], code)

    assert again.status_code == 409  # the payment is no longer waiting for a code
    assert store.code_digest_get(payment_uuid=Payment.objects.get(public_id=body["payment_id"]).uuid) is None


@pytest.mark.reliability("Concurrency", "Concurrent OTP validation: one charge")
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
    code = last_code()

    def send_the_code() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")
        return validate(client, body["payment_id"], code).status_code

    statuses = run_at_once(2, send_the_code)

    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (409, 410)
    assert len(psp_intents(order_id=order_id)) == 1


@pytest.mark.django_db
def test_a_retried_wrong_code_with_the_same_key_is_counted_once(api, held):
    payment_id = held()["payment_id"]
    code = last_code()

    def post(key):
        return api.post(
            "/api/v1/payments/validate",
            {"payment_id": payment_id, "otp": wrong_code(code)},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first, replay, other = post("otp-try-1"), post("otp-try-1"), post("otp-try-2")

    assert first.status_code == replay.status_code == 401
    assert replay["Idempotent-Replayed"] == "true"
    assert first.json()["error"]["attempts_left"] == replay.json()["error"]["attempts_left"]
    assert other.json()["error"]["attempts_left"] == first.json()["error"]["attempts_left"] - 1
