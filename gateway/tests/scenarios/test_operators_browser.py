"""The operators' second factor in a real browser (Debian's Chromium, Playwright)
against pytest-django's live server: a passkey made and used through Chrome's
virtual authenticator (CDP WebAuthn), an authenticator app's code, a recovery
code, a password-only session refused, and a refund that asks for the factor
again. Screenshots go to .test-artifacts/ (docs/operators.md shows them)."""

import re
import time

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from gateway.mfa.services import mfa_recovery_codes_issue
from gateway.tests.scenarios.test_admin_browser import ARTIFACTS, browser  # noqa: F401  (the fixture)
from payments.models import Payment
from payments.services.operators import OPERATORS_GROUP

PASSWORD = "pw-operator-8412"


def _operator(username: str, *, app: bool = False) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    if app:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def _code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _password(page, live_server, username: str):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def _with_virtual_authenticator(browser):  # noqa: F811
    """A page whose browser has a platform authenticator that verifies the user."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return page


def _age_second_factor(page, seconds: int):
    """As if the last second-factor check were `seconds` old (the step-up clock)."""
    session_key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key)
    session["mfa_verified_at"] = int(time.time()) - seconds
    session.save()


@pytest.mark.reliability(
    "Security hardening",
    "Step-up: a refund above ADMIN_STEP_UP_ABOVE, revoking an API key, resetting a factor and adding a "
    "passkey need a second factor within ADMIN_STEP_UP_SECONDS; a lost factor is reset only by another "
    "superuser, audited",
)
@pytest.mark.django_db(transaction=True)
def test_a_passkey_is_enrolled_then_signs_in_and_confirms_a_large_refund(live_server, browser, pay, settings):  # noqa: F811
    settings.ADMIN_STEP_UP_ABOVE = {"usd": 1000}  # refunds above $10.00
    payment_id = pay(amount="40.00", order_id="order_stepup").json()["payment_id"]
    user = _operator("pia")
    page = _with_virtual_authenticator(browser)

    # First login: the password, then enrolment is forced.
    _password(page, live_server, "pia")
    page.wait_for_url(re.compile(r".*/admin/mfa/enrol/.*"))
    page.screenshot(path=str(ARTIFACTS / "operators-enrol.png"), full_page=True)
    page.click("#passkey-register-button")
    page.wait_for_selector("#recovery-codes")
    codes = page.locator("#recovery-codes code").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "operators-recovery-codes.png"), full_page=True)
    page.click("#recovery-done")
    page.wait_for_url(re.compile(r".*/admin/$"))
    assert WebAuthnCredential.objects.filter(user=user, confirmed=True).count() == 1
    assert len(codes) == 10

    # The next login: the password, then the passkey.
    page.click("#logout-form button[type=submit]")
    _password(page, live_server, "pia")
    page.wait_for_url(re.compile(r".*/admin/mfa/\?.*"))
    page.screenshot(path=str(ARTIFACTS / "operators-verify-passkey.png"), full_page=True)
    page.click("#passkey-verification-button")
    page.wait_for_url(re.compile(r".*/admin/$"))
    assert "Payments" in page.content()

    # A refund above ADMIN_STEP_UP_ABOVE, minutes after the last check: the factor again.
    _age_second_factor(page, settings.ADMIN_STEP_UP_SECONDS + 60)
    payment = Payment.objects.get(public_id=payment_id)
    page.goto(f"{live_server.url}/admin/payments/payment/{payment.pk}/refund/")
    page.fill("#id_amount", "25.00")
    page.fill("#id_reason", "damaged in transit")
    page.click("#refund-submit")
    page.wait_for_url(re.compile(r".*/admin/mfa/\?.*step_up=1.*"))
    assert "needs your second factor again" in page.content()
    page.screenshot(path=str(ARTIFACTS / "operators-step-up.png"), full_page=True)
    page.click("#passkey-verification-button")
    page.wait_for_url(re.compile(r".*/refund/\?.*"))
    assert page.input_value("#id_amount") == "25.00"  # the form as it was filled in
    page.click("#refund-submit")
    page.wait_for_selector("text=Refunded $25.00")
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_minor) == ("partially_refunded", 2500)


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
@pytest.mark.django_db(transaction=True)
def test_an_authenticator_app_code_signs_in(live_server, browser):  # noqa: F811
    user = _operator("tom", app=True)
    page = browser.new_page(viewport={"width": 1200, "height": 800})

    _password(page, live_server, "tom")
    page.wait_for_url(re.compile(r".*/admin/mfa/\?.*"))
    page.screenshot(path=str(ARTIFACTS / "operators-verify-app.png"), full_page=True)
    page.fill("#id_totp_code", _code(user))
    page.click("#totp-submit")

    page.wait_for_url(re.compile(r".*/admin/$"))
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
@pytest.mark.django_db(transaction=True)
def test_a_recovery_code_signs_in_once(live_server, browser):  # noqa: F811
    user = _operator("rita", app=True)
    code = mfa_recovery_codes_issue(user=user)[0]
    page = browser.new_page()

    _password(page, live_server, "rita")
    page.wait_for_url(re.compile(r".*/admin/mfa/\?.*"))
    page.click("text=Lost your passkey or phone?")
    page.fill("#id_recovery_code", code)
    page.click("#recovery-submit")

    page.wait_for_url(re.compile(r".*/admin/$"))
    assert "Recovery code used: 9 left" in page.content()


@pytest.mark.reliability(
    "Security hardening",
    "MFA for every staff session, superusers included (PCI DSS 8.4.2): a password alone opens no admin page; "
    "enrolment forced (an authenticator app or a passkey, then one-time recovery codes); TOTP codes not "
    "accepted twice; five wrong codes end the session; no passwordless passkey login",
)
@pytest.mark.django_db(transaction=True)
def test_a_password_only_session_reaches_no_admin_page(live_server, browser):  # noqa: F811
    _operator("sam", app=True)
    page = browser.new_page()

    _password(page, live_server, "sam")
    page.wait_for_url(re.compile(r".*/admin/mfa/\?.*"))
    for path in ("/admin/", "/admin/payments/payment/", "/admin/payments/apiclient/add/"):
        page.goto(f"{live_server.url}{path}")
        assert "/admin/mfa/" in page.url, path
        assert page.locator("#result_list").count() == 0
