"""Operators' second factor (gateway.mfa): enrolment, verification, recovery
codes, step-up, factor reset, and the login lockouts. Django's test client; the
browser's passkey ceremony is in scenarios/test_operators_browser.py."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import staff_login
from gateway.tests.conftest import _code, _enrolled, _password_login
from payments.models import ApiClient, Payment
from payments.services.api_clients import api_client_create

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


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
