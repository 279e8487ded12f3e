"""The hosted payment page in a real browser (Debian's Chromium, Playwright)
against pytest-django's live server and localstripe, with localstripe's
Stripe.js stand-in (its card field, its createToken, its 3-D Secure modal):
pay, a declined card, 3-D Secure, and the cancel link. The
payment's status is then read from the API, the payer's landing page is the
merchant's URL, no card number reaches the gateway (the page's requests
are recorded), and the merchant's webhook endpoint receives the signed
payment.succeeded. A screenshot goes to .test-artifacts/ (docs/checkout/ keeps one for docs/api.md)."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook

from gateway.tests.scenarios.test_admin_browser import ARTIFACTS, browser  # noqa: F401  (the fixture)
from payments.tests.fixtures import payment_body
from payments.webhooks.tests.conftest import receiver  # noqa: F401  (the fixture: a merchant's endpoint)

pytestmark = pytest.mark.django_db(transaction=True)

SHOP = "http://shop.localhost.test"


def _payment(api, **overrides) -> dict:
    body = payment_body(
        card=None,
        confirm=False,
        order_id="order-4711",
        amount="42.50",
        success_url=f"{SHOP}/thanks",
        cancel_url=f"{SHOP}/cart",
        **overrides,
    )
    answer = api.post("/api/v1/payments/process", body, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()


def _open(browser, live_server, answer):  # noqa: F811
    context = browser.new_context(viewport={"width": 900, "height": 760})
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.url} {request.post_data or ''}"))
    # The merchant's pages: answered here, so the payer's landing URL can be read.
    context.route(
        f"{SHOP}/**", lambda route: route.fulfill(status=200, body="merchant", content_type="text/html")
    )
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    path = answer["payment_url"].split("/pay/", 1)[1]
    page.goto(f"{live_server.url}/pay/{path}")
    return page, sent, errors


def _card(page, number: str):
    page.fill("#card-element input[placeholder=number]", number)
    page.fill("#card-element input[placeholder=exp_month]", "12")
    page.fill("#card-element input[placeholder=exp_year]", "34")
    page.fill("#card-element input[placeholder=cvc]", "123")
    page.fill("#card-element input[placeholder=postal_code]", "10115")


def _gateway_saw_no_card(sent: list[str], live_server, number: str):
    to_gateway = [line for line in sent if line.startswith(live_server.url)]
    assert to_gateway and not any(number in line for line in to_gateway)


@pytest.fixture
def page_settings(settings, localstripe):
    settings.PAYMENT_REDIRECT_ALLOW_HTTP = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "payment_page": ""}
    return settings


@pytest.mark.reliability(
    "Merchant integration",
    "The hosted payment page in Chromium: pay, decline, 3-D Secure, cancel; no card number reaches the "
    "gateway; the merchant's webhook arrives signed",
)
def test_the_payer_pays_on_the_hosted_page_and_returns_to_the_merchant(
    api,
    live_server,
    browser,  # noqa: F811
    page_settings,
    receiver,  # noqa: F811
):
    # The merchant's webhook endpoint, on loopback; deliveries run in the server's
    # process after commit (eager Celery), Kafka aside (events wait in the outbox).
    page_settings.CELERY_TASK_ALWAYS_EAGER = True
    page_settings.EAGER_TASKS_IN_THREAD = False
    page_settings.WEBHOOK_ALLOW_LOCAL_URLS = True
    page_settings.KAFKA_BROKERS = []
    endpoint = api.post(
        "/api/v1/webhook_endpoints",
        {"url": receiver.url, "events": ["payment.succeeded"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"hook-{receiver.url}",
    ).json()
    answer = _payment(api)
    page, sent, errors = _open(browser, live_server, answer)
    assert page.inner_text("#merchant") == "merchant"  # the API client's name
    assert "42.50 USD" in page.inner_text("#amount")
    _card(page, "4242424242424242")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "payment-page.png"))
    page.click("#pay")
    page.wait_for_url(f"{SHOP}/thanks?payment_id={answer['payment_id']}", timeout=15000)

    status = api.get(f"/api/v1/payments/{answer['payment_id']}").json()
    assert status["status"] == "succeeded" and status["card"]["last4"] == "4242"
    _gateway_saw_no_card(sent, live_server, "4242424242424242")
    assert not [e for e in errors if "Content Security Policy" in e], errors

    # The merchant is told, signed (Standard Webhooks).
    for _ in range(100):
        if receiver.requests:
            break
        time.sleep(0.1)
    delivered = receiver.requests[0]
    event = Webhook(endpoint["secret"]).verify(delivered["body"], delivered["headers"])
    assert event["type"] == "payment.succeeded" and event["payment"]["payment_id"] == answer["payment_id"]


@pytest.mark.reliability(
    "Merchant integration",
    "The hosted payment page in Chromium: pay, decline, 3-D Secure, cancel; no card number reaches the "
    "gateway; the merchant's webhook arrives signed",
)
def test_a_declined_card_is_shown_and_the_payment_stays_open(api, live_server, browser, page_settings):  # noqa: F811
    """localstripe cannot confirm a PaymentIntent again after a declined charge
    (its status stays requires_payment_method with the failed charge), so the
    second card after a decline is proven against the fake PSP, which keeps
    Stripe's semantics (payments/tests/test_client_confirmation.py)."""
    answer = _payment(api)
    page, sent, _ = _open(browser, live_server, answer)
    _card(page, "4000000000000341")
    page.click("#pay")
    page.wait_for_selector("#message.error", timeout=15000)
    assert "declined" in page.inner_text("#message").lower()
    assert page.is_enabled("#pay")
    payment = api.get(f"/api/v1/payments/{answer['payment_id']}").json()
    assert payment["status"] == "requires_payment_method" and payment["failure_code"] == "card_declined"
    _gateway_saw_no_card(sent, live_server, "4000000000000341")


@pytest.mark.reliability(
    "Merchant integration",
    "The hosted payment page in Chromium: pay, decline, 3-D Secure, cancel; no card number reaches the "
    "gateway; the merchant's webhook arrives signed",
)
def test_three_d_secure_in_the_browser(api, live_server, browser, page_settings):  # noqa: F811
    answer = _payment(api)
    page, _, _ = _open(browser, live_server, answer)
    _card(page, "4000002500003155")
    page.click("#pay")
    page.click("text=Complete authentication", timeout=15000)  # the issuer's challenge (localstripe's modal)
    page.wait_for_url(f"{SHOP}/thanks?payment_id={answer['payment_id']}", timeout=15000)
    assert api.get(f"/api/v1/payments/{answer['payment_id']}").json()["status"] == "succeeded"


@pytest.mark.reliability(
    "Merchant integration",
    "The hosted payment page in Chromium: pay, decline, 3-D Secure, cancel; no card number reaches the "
    "gateway; the merchant's webhook arrives signed",
)
def test_failed_three_d_secure_then_cancel(api, live_server, browser, page_settings):  # noqa: F811
    answer = _payment(api)
    page, _, _ = _open(browser, live_server, answer)
    _card(page, "4000002500003155")
    page.click("#pay")
    page.click("text=Fail authentication", timeout=15000)
    page.wait_for_selector("#message.error", timeout=15000)
    assert api.get(f"/api/v1/payments/{answer['payment_id']}").json()["status"] == "requires_payment_method"

    page.click("#cancel")
    page.wait_for_url(f"{SHOP}/cart", timeout=15000)
    # Leaving is not paying; the payment waits (or expires with expires_in).
    assert api.get(f"/api/v1/payments/{answer['payment_id']}").json()["status"] == "requires_payment_method"
