"""The operators' admin in a real browser: Debian's Chromium driven by Playwright,
against pytest-django's live server. Screenshots go to .test-artifacts/."""

import os
import re
import shutil

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connections
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import ROOT
from payments.models import Payment
from payments.services.operators import OPERATORS_GROUP

ARTIFACTS = ROOT / ".test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run `make services`.", pytrace=False)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test itself makes around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        # With Playwright's event loop running on this thread, Django keeps this
        # test's database connections apart from the thread's usual ones (asgiref's
        # context-local storage), and they outlive the test: one opened by an
        # earlier browser test is stale after a test restarts MariaDB
        # (test_faults). Closed here, and after, so each browser test opens its own.
        connections.close_all()
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _user(username: str, *, operator: bool) -> str:
    password = f"pw-{username}-123"
    user = User.objects.create_user(username, password=password, is_staff=True)
    if operator:
        user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    else:
        user.user_permissions.add(*Permission.objects.filter(codename__in=["view_payment", "view_refund"]))
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return password


def totp_now(username: str) -> str:
    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _login(page, live_server, username, password):
    """The password, then the authenticator app's code (gateway.mfa)."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/mfa/.*"))
    page.fill("#id_totp_code", totp_now(username))
    page.click("#totp-submit")
    page.wait_for_url(re.compile(r".*/admin/$"))


@pytest.mark.django_db(transaction=True)
def test_an_operator_finds_a_payment_and_refunds_part_of_it(live_server, browser, pay):
    payment_id = pay(amount="40.00", order_id="order_browser_1").json()["payment_id"]
    password = _user("alice", operator=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    _login(page, live_server, "alice", password)
    page.goto(f"{live_server.url}/admin/payments/payment/overview/")
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/payments/payment/")
    page.fill("#searchbar", "order_browser_1")
    page.press("#searchbar", "Enter")
    page.click(f"text={payment_id}")
    page.click("#refund-button")
    page.fill("#id_amount", "15.00")
    page.fill("#id_reason", "damaged item")
    page.click("#refund-submit")

    page.wait_for_selector("text=Refunded $15.00")
    content = page.content()
    assert "partially refunded" in content
    assert "damaged item" in content  # the refund, inline
    assert "operator:alice" in content  # the audit entry on the timeline
    page.screenshot(path=str(ARTIFACTS / "admin-payment-detail.png"), full_page=True)
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.status, payment.refunded_minor) == ("partially_refunded", 1500)


@pytest.mark.django_db(transaction=True)
def test_a_user_without_the_permission_sees_no_refund_button(live_server, browser, pay):
    payment_id = pay(order_id="order_browser_2").json()["payment_id"]
    password = _user("victor", operator=False)
    page = browser.new_page()

    _login(page, live_server, "victor", password)
    page.goto(f"{live_server.url}/admin/payments/payment/?q=order_browser_2")
    page.click(f"text={payment_id}")
    page.wait_for_selector(".field-status_text")

    assert page.locator("#refund-button").count() == 0
    assert "succeeded" in page.locator(".field-status_text").inner_text()
    refund_form = page.goto(
        f"{live_server.url}/admin/payments/payment/{Payment.objects.get(public_id=payment_id).pk}/refund/"
    )
    assert refund_form.status == 403
