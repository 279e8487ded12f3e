"""Operators' second factor (gateway.mfa): enrolment, verification, recovery
codes, step-up, factor reset, and the login lockouts. Django's test client; the
browser's passkey ceremony is in scenarios/test_operators_browser.py."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import staff_login
from payments.models import ApiClient, Payment
from payments.services.api_clients import api_client_create
from payments.services.operators import OPERATORS_GROUP

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


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


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_a_password_alone_opens_no_admin_page_not_even_for_a_superuser(root):
    client, response = _password_login("root", "pw-root-12345")
    assert response.status_code == 302  # the password was right

    for path in ("/admin/", "/admin/payments/payment/", "/admin/auth/user/"):
        page = client.get(path)
        assert page.status_code == 302 and page["Location"].startswith("/admin/mfa/enrol/"), path
    _enrolled(root)
    assert client.get("/admin/")["Location"].startswith("/admin/mfa/?next=")


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_enrolment_with_an_authenticator_app_then_recovery_codes_shown_once(operator, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's delay after the wrong code, tested below
    client, _ = _password_login("olga", "pw-olga-12345")
    page = client.get("/admin/mfa/enrol/")
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    assert page.status_code == 200 and "<svg" in page.content.decode()  # the QR code

    wrong = client.post("/admin/mfa/enrol/", {"code": "000000" if _code(device) != "000000" else "111111"})
    assert "not valid" in wrong.content.decode() and client.get("/admin/").status_code == 302

    shown = client.post("/admin/mfa/enrol/", {"code": _code(device)})
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", shown.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert shown["Cache-Control"].startswith("max-age=0") or "no-cache" in shown["Cache-Control"]
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200
    assert codes[0] not in client.get("/admin/mfa/recovery/").content.decode()  # never shown again


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_a_totp_code_verifies_a_session_and_is_not_accepted_twice(operator):
    device = _enrolled(operator)
    client, _ = _password_login("olga", "pw-olga-12345")
    code = _code(device)

    response = client.post(
        "/admin/mfa/", {"method": "totp", "code": code, "next": "/admin/payments/payment/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/payments/payment/"
    assert client.get("/admin/payments/payment/").status_code == 200

    again, _ = _password_login("olga", "pw-olga-12345")
    replay = again.post("/admin/mfa/", {"method": "totp", "code": code})
    assert replay.status_code == 200 and "not valid" in replay.content.decode()


def test_a_code_right_after_a_wrong_one_waits_for_the_throttle(operator):
    device = _enrolled(operator)
    client, _ = _password_login("olga", "pw-olga-12345")
    client.post("/admin/mfa/", {"method": "totp", "code": "12345x"})
    throttled = client.post("/admin/mfa/", {"method": "totp", "code": _code(device)})
    assert "wait a few seconds" in throttled.content.decode()
    assert client.get("/admin/").status_code == 302


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_five_wrong_codes_sign_the_session_out(operator):
    _enrolled(operator)
    client, _ = _password_login("olga", "pw-olga-12345")
    for _ in range(4):
        assert client.post("/admin/mfa/", {"method": "totp", "code": "12345x"}).status_code == 200
    last = client.post("/admin/mfa/", {"method": "totp", "code": "12345x"})
    # Signed out; the fifth failure of this username from this address also locks the pair (axes).
    assert last.status_code == 429 or last["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_a_recovery_code_works_once(operator):
    _enrolled(operator)
    from gateway.mfa.services import mfa_recovery_codes_issue

    code = mfa_recovery_codes_issue(user=operator)[0]
    client, _ = _password_login("olga", "pw-olga-12345")
    assert client.post("/admin/mfa/", {"method": "recovery", "code": code.upper()}).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert StaticDevice.objects.get(user=operator).token_set.count() == 9

    again, _ = _password_login("olga", "pw-olga-12345")
    assert "not valid" in again.post("/admin/mfa/", {"method": "recovery", "code": code}).content.decode()


def test_the_mfa_pages_do_not_redirect_outside_the_site(operator):
    device = _enrolled(operator)
    client, _ = _password_login("olga", "pw-olga-12345")
    response = client.post(
        "/admin/mfa/", {"method": "totp", "code": _code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/admin/"


@pytest.fixture
def big_payment(operator):
    from payments.tests.factories import SucceededPaymentFactory

    return SucceededPaymentFactory(amount_minor=500_000, currency="usd")


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_a_refund_above_the_step_up_amount_asks_for_the_factor_again(operator, big_payment, settings):
    settings.ADMIN_STEP_UP_ABOVE = {"usd": 100_000}
    client = staff_login(Client(), operator, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)
    url = f"/admin/payments/payment/{big_payment.pk}/refund/"
    token = "5c1e7b52-54f5-4b8e-9a40-3b8f3d1f0b6a"

    response = client.post(url, {"amount": "1500.00", "reason": "damaged", "submission_token": token})

    assert response.status_code == 302 and response["Location"].startswith("/admin/mfa/?next=")
    assert "step_up=1" in response["Location"]
    assert not big_payment.refunds.exists()
    # Back from the check, the form as it was filled in.
    back = response["Location"].split("next=", 1)[1].split("&step_up", 1)[0]
    from urllib.parse import unquote

    form = client.get(unquote(back)).content.decode()
    assert "damaged" in form and token in form


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_a_refund_at_or_below_the_step_up_amount_needs_no_new_check(operator, settings, fake_pay):
    settings.ADMIN_STEP_UP_ABOVE = {"*": 100_000}
    payment = Payment.objects.get(public_id=fake_pay(amount="5000.00").json()["payment_id"])
    client = staff_login(Client(), operator, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)
    url = f"/admin/payments/payment/{payment.pk}/refund/"
    token = "0b7e3c1a-2f44-4a0a-9d0e-6a9c0f2b7d11"

    response = client.post(url, {"amount": "1000.00", "reason": "damaged", "submission_token": token})

    assert (
        response.status_code == 302
        and response["Location"] == f"/admin/payments/payment/{payment.pk}/change/"
    )
    assert payment.refunds.get().amount_minor == 100_000


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_revoking_an_api_key_needs_a_fresh_second_factor(root, settings):
    client_record, _ = api_client_create(name="shop-x")
    stale = staff_login(Client(), root, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)
    action = {"action": "revoke", "_selected_action": [client_record.pk]}

    response = stale.post("/admin/payments/apiclient/", action)
    assert response.status_code == 302 and response["Location"].startswith("/admin/mfa/?next=")
    assert ApiClient.objects.get(pk=client_record.pk).is_active

    fresh = staff_login(Client(), root)
    fresh.post("/admin/payments/apiclient/", action)
    assert not ApiClient.objects.get(pk=client_record.pk).is_active


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_only_another_superuser_resets_a_lost_factor_after_a_fresh_check_and_it_is_audited(
    root, operator, settings
):
    _enrolled(operator)
    other_root = User.objects.create_superuser("root2", password="pw-root2-12345")
    action = {"action": "reset_second_factors", "_selected_action": [operator.pk]}

    stale = staff_login(Client(), root, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)
    assert stale.post("/admin/auth/user/", action)["Location"].startswith("/admin/mfa/")
    assert TOTPDevice.objects.filter(user=operator).exists()

    as_operator = staff_login(Client(), operator)
    assert as_operator.post("/admin/auth/user/", action).status_code in (302, 403)  # not offered
    assert TOTPDevice.objects.filter(user=operator, name="phone").exists()

    fresh = staff_login(Client(), root)
    fresh.post("/admin/auth/user/", action)
    assert not TOTPDevice.objects.filter(user=operator).exists()
    entry = LogEntry.objects.get(object_id=str(operator.pk))
    assert "Second factors reset" in entry.change_message and entry.user == root

    self_reset = {"action": "reset_second_factors", "_selected_action": [root.pk]}
    page = fresh.post("/admin/auth/user/", self_reset, follow=True).content.decode()
    assert "Another superuser must reset" in page
    assert TOTPDevice.objects.filter(user=root).exists()
    assert other_root.is_superuser


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
def test_a_passkey_cannot_be_added_to_an_enrolled_account_without_a_fresh_check(operator, settings):
    _enrolled(operator)
    stale = staff_login(Client(), operator, verified_seconds_ago=settings.ADMIN_STEP_UP_SECONDS + 1)
    response = stale.post("/admin/mfa/webauthn/registration/begin/", content_type="application/json")
    assert response.status_code == 403

    fresh = staff_login(Client(), operator)
    options = fresh.post("/admin/mfa/webauthn/registration/begin/", content_type="application/json")
    assert options.status_code == 200 and options.json()["rp"]["id"] == "testserver"


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
def test_no_passwordless_passkey_login(client):
    response = client.post("/admin/mfa/webauthn/authentication/begin/", content_type="application/json")
    assert response.status_code in (401, 403)


@pytest.mark.reliability(
    "Security hardening",
    "A new API key is shown in its own answer only (no-store), never in the messages cookie or the session",
)
def test_a_new_api_key_is_shown_in_its_answer_only_never_in_a_cookie(root):
    client = staff_login(Client(), root)
    response = client.post("/admin/payments/apiclient/add/", {"name": "shop-b"})
    page = response.content.decode()
    raw_key = page.split('id="new-api-key">')[1].split("<")[0]

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert raw_key.startswith("gw_")
    assert all(raw_key not in morsel.value for morsel in response.cookies.values())
    assert all(raw_key not in str(value) for value in client.session.values())
    assert raw_key not in client.get("/admin/payments/apiclient/").content.decode()


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
