"""Fixtures of the OTP tests, against real Redis, the locmem mailbox and localstripe."""

import uuid

import pytest

from otp.tests.support import EMAIL


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
