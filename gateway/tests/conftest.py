"""What the operators' tests share (test_mfa.py, test_mfa_accounts.py): the
operator and the superuser, a payment big enough for a step-up, and logging in
with a password or an authenticator app's code."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from payments.services.operators import OPERATORS_GROUP


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _password_login(username: str, password: str, *, address: str = "127.0.0.1") -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return client, response


@pytest.fixture
def operator():
    user = User.objects.create_user("olga", password="pw-olga-12345", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    return user


@pytest.fixture
def root():
    return User.objects.create_superuser("root", password="pw-root-12345")


def _enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


@pytest.fixture
def big_payment(operator):
    from payments.tests.factories import SucceededPaymentFactory

    return SucceededPaymentFactory(amount_minor=500_000, currency="usd")
