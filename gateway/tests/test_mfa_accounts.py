"""Operators' logins and accounts (gateway.mfa, django-axes): lockouts, the
username cap, who may grant rights, fresh checks for accounts and keys, a
split refund's step-up, and a reset factor's sessions. Fixtures and helpers
are test_mfa.py's.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from conftest import staff_login
from gateway.tests.conftest import _enrolled, _password_login
from payments.models import ApiClient, Payment

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


# --- login lockouts ----------------------------------------------------------------------------
@pytest.mark.reliability(
    "Security hardening",
    "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
    "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
    "from; 15-minute idle session timeout",
)
def test_a_strangers_wrong_passwords_lock_only_the_stranger(operator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        _password_login("olga", "wrong", address="203.0.113.9")
    _, from_stranger = _password_login("olga", "pw-olga-12345", address="203.0.113.9")
    _, from_operator = _password_login("olga", "pw-olga-12345", address="198.51.100.7")

    assert from_stranger.status_code in (403, 429)  # axes' lockout answer
    assert from_operator.status_code == 302  # signed in (on to the second factor)


@pytest.mark.reliability(
    "Security hardening",
    "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
    "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
    "from; 15-minute idle session timeout",
)
def test_the_username_cap_spares_the_addresses_the_operator_signed_in_from(operator, settings):
    settings.ADMIN_LOGIN_USERNAME_LIMIT = 6
    _, known = _password_login("olga", "pw-olga-12345", address="198.51.100.7")
    assert known.status_code == 302
    for n in range(settings.ADMIN_LOGIN_USERNAME_LIMIT):  # a guess from each of many addresses
        _password_login("olga", "wrong", address=f"203.0.113.{n + 1}")

    _, new_address = _password_login("olga", "pw-olga-12345", address="192.0.2.50")
    _, known_address = _password_login("olga", "pw-olga-12345", address="198.51.100.7")

    assert new_address.status_code != 302  # refused although the password is right
    assert known_address.status_code == 302
    assert Payment.objects.count() == 0  # nothing else moved


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_a_staff_user_who_may_change_users_cannot_grant_rights_or_touch_a_superuser(root, settings):
    from django.contrib.auth.models import Permission

    clerk = User.objects.create_user("clerk", password="pw-clerk-12345", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_user", "view_user", "add_user"])
    )
    client = staff_login(Client(), clerk)

    form = client.get(f"/admin/auth/user/{clerk.pk}/change/").content.decode()
    client.post(
        f"/admin/auth/user/{clerk.pk}/change/",
        {
            "username": "clerk",
            "is_staff": "on",
            "is_active": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    clerk.refresh_from_db()

    assert 'name="is_superuser"' not in form
    assert not clerk.is_superuser
    assert (
        'name="_save"' not in client.get(f"/admin/auth/user/{root.pk}/change/").content.decode()
    )  # view only
    assert client.get(f"/admin/auth/user/{root.pk}/password/").status_code == 403


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_a_new_account_or_api_key_needs_a_fresh_second_factor(root, settings):
    stale = staff_login(Client(), root, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)

    for path in ("/admin/auth/user/add/", "/admin/payments/apiclient/add/"):
        response = stale.post(path, {"name": "shop-z", "username": "newbie"})
        assert response.status_code == 302 and response["Location"].startswith("/admin/mfa/?next="), path
    assert not User.objects.filter(username="newbie").exists()
    assert not ApiClient.objects.filter(name="shop-z").exists()


@pytest.mark.reliability(
    "Security hardening",
    "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
    "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
    "from; 15-minute idle session timeout",
)
def test_one_address_alone_cannot_fill_the_username_cap(operator, settings):
    settings.ADMIN_LOGIN_USERNAME_LIMIT = 8
    for _ in range(20):  # one stranger, locked after 5, keeps trying
        _password_login("olga", "wrong", address="203.0.113.66")
    _, new_address = _password_login("olga", "pw-olga-12345", address="192.0.2.51")

    assert new_address.status_code == 302


@pytest.mark.reliability(
    "Security hardening",
    "Admin login lockout on the username-and-address pair (django-axes): a stranger's wrong passwords lock "
    "only the stranger; a per-username cap over all addresses spares the addresses the operator signed in "
    "from; 15-minute idle session timeout",
)
def test_wrong_second_factor_codes_count_as_failed_logins_across_sessions(operator, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    _enrolled(operator)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client, _ = _password_login("olga", "pw-olga-12345", address="198.51.100.99")
        client.post("/admin/mfa/", {"method": "totp", "code": "12345x"})  # one wrong code, then a new session

    client, _ = _password_login("olga", "pw-olga-12345", address="198.51.100.99")
    client.post("/admin/mfa/", {"method": "totp", "code": "12345x"})
    _, locked = _password_login("olga", "pw-olga-12345", address="198.51.100.99")

    assert locked.status_code == 429


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_splitting_a_refund_does_not_avoid_the_step_up(operator, big_payment, settings):
    settings.ADMIN_STEP_UP_ABOVE = {"usd": 100_000}
    Payment.objects.filter(pk=big_payment.pk).update(refunded_minor=95_000)
    client = staff_login(Client(), operator, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)

    response = client.post(
        f"/admin/payments/payment/{big_payment.pk}/refund/",
        {"amount": "100.00", "reason": "split", "submission_token": "9d5e1f0a-1b2c-4d3e-8f4a-5b6c7d8e9f00"},
    )

    assert response.status_code == 302 and "step_up=1" in response["Location"]


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_a_factor_reset_ends_the_users_sessions(root, operator):
    _enrolled(operator)
    theirs = staff_login(Client(), operator)
    assert theirs.get("/admin/").status_code == 200

    staff_login(Client(), root).post(
        "/admin/auth/user/", {"action": "reset_second_factors", "_selected_action": [operator.pk]}
    )

    assert theirs.get("/admin/")["Location"].startswith("/admin/login/")
