"""Client-side confirmation (`confirm: false`), the hosted payment page and
payments that expire, against the fake PSP on the test's clock."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.events.models import OutboxEvent
from payments.enums import PaymentStatus
from payments.models import Payment
from payments.services.expiry import payments_expire_due
from payments.tests.fixtures import payment_body

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


def create(api, **overrides):
    body = payment_body(card=None, confirm=False, **overrides)
    answer = api.post("/api/v1/payments/process", body, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()


def page_path(answer) -> str:
    return answer["payment_url"].removeprefix("http://testserver")


def confirm(path, **body):
    return Client().post(f"{path}/confirm", body, content_type="application/json")


def event_types(payment) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=payment.public_id)
        .order_by("id")
        .values_list("type", flat=True)
    )


def test_confirm_false_answers_what_the_browser_needs_and_takes_no_money(api, fake_psp, settings):
    answer = create(api, success_url="https://shop.example/thanks")

    assert answer["status"] == "requires_payment_method"
    assert answer["confirmation_method"] == "client"
    assert answer["client_secret"].startswith(answer["transaction_id"])
    assert answer["publishable_key"] == settings.STRIPE_PUBLISHABLE_KEY
    assert answer["payment_url"].startswith("http://testserver/pay/")
    intent = fake_psp.intents[answer["transaction_id"]]
    assert intent.status == "requires_payment_method" and intent.payment_method == ""
    assert fake_psp.money_taken(str(Payment.objects.get().uuid)) == 0
    assert event_types(Payment.objects.get())[-1] == "payment.requires_payment_method"
    # The client secret is for this answer only: never kept.
    assert "secret" not in str(Payment.objects.values().get())


@pytest.mark.parametrize("source", [{"payment_method": "pm_card_visa"}, {"token": "tok_visa"}])
def test_confirm_false_with_a_payment_method_is_refused(api, fake_psp, source):
    answer = api.post(
        "/api/v1/payments/process", payment_body(card=None, confirm=False, **source), format="json"
    )
    assert answer.status_code == 400, answer.json()
    assert answer.json()["error"]["code"] == "payment_method_not_allowed"
    assert Payment.objects.count() == 0


def test_the_hosted_page_shows_the_payment_under_a_strict_policy(api, fake_psp, settings):
    answer = create(api, order_id="order-77", amount="12.50", cancel_url="https://shop.example/cart")
    page = Client().get(page_path(answer))

    assert page.status_code == 200
    html = page.content.decode()
    assert "order-77" in html and "12.50 USD" in html and "https://shop.example/cart" in html
    assert settings.STRIPE_JS_URL in html
    csp = page["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp and "script-src 'nonce-" in csp


def test_a_tampered_or_expired_link_is_a_404(api, fake_psp, sim_clock, settings):
    path = page_path(create(api))
    assert Client().get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404
    assert Client().get("/pay/not-a-token").status_code == 404
    assert confirm(path[:-1] + "x", token="tok_visa").status_code == 404

    sim_clock.advance(settings.PAYMENT_LINK_SECONDS + 1)
    assert Client().get(path).status_code == 404


def test_paying_on_the_page_succeeds_and_sends_the_payer_back(api, fake_psp):
    answer = create(api, success_url="https://shop.example/thanks?o=1")
    result = confirm(page_path(answer), token="tok_visa").json()

    payment = Payment.objects.get()
    assert result["status"] == payment.status == PaymentStatus.SUCCEEDED
    assert result["redirect_url"] == f"https://shop.example/thanks?o=1&payment_id={payment.public_id}"
    assert payment.captured_minor == payment.amount_minor
    assert fake_psp.money_taken(str(payment.uuid)) == payment.amount_minor
    assert event_types(payment)[-1] == "payment.succeeded"
    # A second submission (a double click) takes nothing more.
    again = confirm(page_path(answer), token="tok_visa").json()
    assert again["status"] == "succeeded"
    assert fake_psp.money_taken(str(payment.uuid)) == payment.amount_minor


def test_a_declined_card_leaves_the_payment_open_for_another(api, fake_psp):
    answer = create(api)
    declined = confirm(page_path(answer), token="tok_chargeDeclined").json()

    payment = Payment.objects.get()
    assert declined["status"] == payment.status == PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert declined["error"]["code"] == "card_declined"
    assert "payment.attempt_failed" in event_types(payment)

    paid = confirm(page_path(answer), token="tok_visa").json()
    assert paid["status"] == "succeeded"
    assert fake_psp.money_taken(str(payment.uuid)) == payment.amount_minor


def test_too_many_declines_stop_the_page(api, fake_psp, settings):
    settings.PAYMENT_PAGE_MAX_DECLINES = 2
    path = page_path(create(api))
    for _ in range(2):
        assert confirm(path, token="tok_chargeDeclined").json()["status"] == "requires_payment_method"
    refused = confirm(path, token="tok_visa")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "too_many_attempts"


def test_three_d_secure_on_the_page(api, fake_psp):
    answer = create(api, success_url="https://shop.example/thanks")
    path = page_path(answer)
    first = confirm(path, token="tok_threeDSecure2Required").json()
    assert first["status"] == "requires_action" and first["client_secret"]

    fake_psp.authenticate(answer["transaction_id"], success=True)  # the payer, in the browser
    done = Client().post(f"{path}/complete", {}, content_type="application/json").json()

    assert done["status"] == "succeeded" and done["redirect_url"].startswith("https://shop.example/thanks")


def test_failed_three_d_secure_lets_the_payer_try_again(api, fake_psp):
    answer = create(api)
    path = page_path(answer)
    confirm(path, token="tok_threeDSecure2Required")
    fake_psp.authenticate(answer["transaction_id"], success=False)
    done = Client().post(f"{path}/complete", {}, content_type="application/json").json()

    assert done["status"] == "requires_payment_method"
    assert done["error"]["code"] == "payment_intent_authentication_failure"
    assert confirm(path, token="tok_visa").json()["status"] == "succeeded"


def test_the_psp_webhook_settles_a_payment_the_browser_confirmed_itself(api, fake_psp):
    """The merchant's own Stripe.js confirms with the client secret; the
    gateway learns it from Stripe's event, through the same services."""
    from stripe_integration.webhooks import _on_payment_intent

    answer = create(api)
    fake_psp.payer_confirm(answer["transaction_id"], "pm_card_visa")
    _on_payment_intent(next(e for e in fake_psp.events if e["type"] == "payment_intent.succeeded"))

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.captured_minor == payment.amount_minor


# --- expiry -------------------------------------------------------------------------------


@pytest.mark.reliability(
    "Merchant integration",
    "An expiry racing the payer is decided by the PSP: a payer who paid in time is never canceled, a "
    "confirmation after the cancel takes no money",
)
def test_a_waiting_payment_is_canceled_when_it_expires(api, fake_psp, sim_clock):
    answer = create(api, expires_in=60)
    sim_clock.advance(59)
    assert payments_expire_due() == 0

    sim_clock.advance(2)
    assert payments_expire_due() == 1

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CANCELED and payment.cancellation_reason == "expired"
    assert fake_psp.intents[answer["transaction_id"]].status == "canceled"
    event = OutboxEvent.objects.filter(type="payment.canceled").get()
    assert event.payload["payment"]["cancellation_reason"] == "expired"
    assert event.payload["details"]["reason"] == "expired"
    # The page then takes no card, and the sweep does nothing more.
    assert confirm(page_path(answer), token="tok_visa").status_code == 404
    assert payments_expire_due() == 0


@pytest.mark.reliability(
    "Merchant integration",
    "An expiry racing the payer is decided by the PSP: a payer who paid in time is never canceled, a "
    "confirmation after the cancel takes no money",
)
def test_a_payer_who_paid_in_time_is_never_canceled_by_the_expiry(api, fake_psp, sim_clock):
    """The payer completed the payment at the PSP; its webhook has not come yet
    when the expiry runs: the PSP refuses the cancel and its state wins."""
    answer = create(api, expires_in=60)
    fake_psp.payer_confirm(answer["transaction_id"], "pm_card_visa")
    sim_clock.advance(61)

    assert payments_expire_due() == 0
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.cancellation_reason == ""
    assert fake_psp.money_taken(str(payment.uuid)) == payment.captured_minor == payment.amount_minor


@pytest.mark.reliability(
    "Merchant integration",
    "An expiry racing the payer is decided by the PSP: a payer who paid in time is never canceled, a "
    "confirmation after the cancel takes no money",
)
def test_a_confirmation_that_comes_after_the_expiry_canceled_takes_no_money(api, fake_psp, sim_clock):
    """The expiry cancels the PaymentIntent between the page's check and its
    confirm call: the PSP refuses the confirm, and the payment is canceled."""
    from payments.services.checkout import payment_confirm_with_card
    from payments.services.expiry import payment_expire

    answer = create(api, expires_in=60)
    payment = Payment.objects.get()

    def expire_meanwhile(operation, phase, key):
        if operation == "confirm" and phase == "before" and fake_psp.interleave is not None:
            fake_psp.interleave = None
            sim_clock.advance(61)
            assert payment_expire(payment=payment).status == PaymentStatus.CANCELED

    fake_psp.interleave = expire_meanwhile
    attempt = payment_confirm_with_card(payment=payment, token="tok_visa")

    assert attempt.payment.status == PaymentStatus.CANCELED
    assert fake_psp.intents[answer["transaction_id"]].status == "canceled"
    assert fake_psp.money_taken(str(payment.uuid)) == 0


def test_a_payment_held_for_a_code_expires_locally(api, fake_psp, sim_clock):
    answer = api.post(
        "/api/v1/payments/process",
        payment_body(
            card=None,
            payment_method="pm_card_visa",
            require_otp=True,
            email="payer@example.com",
            expires_in=30,
        ),
        format="json",
    )
    assert answer.json()["status"] == "requires_otp"
    sim_clock.advance(31)

    assert payments_expire_due() == 1
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CANCELED and payment.cancellation_reason == "expired"
    assert fake_psp.intents == {}


@pytest.mark.parametrize("seconds", [29, 86401])
def test_expires_in_is_bounded(api, fake_psp, seconds):
    answer = api.post(
        "/api/v1/payments/process", payment_body(card=None, confirm=False, expires_in=seconds), format="json"
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "expires_in"


def test_make_runs_periodic_process_expires_payments(api, fake_psp, sim_clock):
    """`make run` has no Celery beat: `manage.py run_periodic` runs the beat's
    schedule, the expiry sweep among it."""
    from django.core.management import call_command

    create(api, expires_in=30)
    sim_clock.advance(31)
    call_command("run_periodic", "--once")

    assert Payment.objects.get().cancellation_reason == "expired"


# --- the hosted page's edges (the security review) ------------------------------------------


def test_a_payment_link_never_reaches_a_log_line_in_clear(api, fake_psp):
    """The link authorises paying the order: the request log and Django's own
    4xx lines show /pay/[REDACTED], as do webhook and client secrets."""
    import logging

    from gateway.core.logging import CardNumberRedactionFilter

    path = page_path(create(api))
    token = path.removeprefix("/pay/")
    record = logging.LogRecord("gateway.request", logging.INFO, "", 0, "GET %s 200", (path,), None)
    record.path = path
    CardNumberRedactionFilter().filter(record)
    warning = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "Conflict: %s", (f"{path}/confirm",), None
    )
    CardNumberRedactionFilter().filter(warning)
    secrets = logging.LogRecord("x", logging.INFO, "", 0, "whsec_abc+/= pi_123_secret_xyz", None, None)
    CardNumberRedactionFilter().filter(secrets)

    assert token not in record.getMessage() and token not in record.path
    assert "/pay/[REDACTED]" in record.getMessage() and token not in warning.getMessage()
    assert "abc" not in secrets.getMessage() and "xyz" not in secrets.getMessage()


def test_a_revoked_merchants_links_stop_working(api, fake_psp, merchant):
    from payments.services.api_clients import api_client_revoke

    path = page_path(create(api))
    api_client_revoke(client=merchant)
    assert Client().get(path).status_code == 404
    assert confirm(path, token="tok_visa").status_code == 404


def test_the_page_takes_json_only(api, fake_psp):
    path = page_path(create(api))
    answer = Client().post(f"{path}/confirm", '{"token": "tok_visa"}', content_type="text/plain")
    assert answer.status_code == 415
    assert Payment.objects.get().status == PaymentStatus.REQUIRES_PAYMENT_METHOD


def test_one_card_at_a_time_per_payment(api, fake_psp):
    """The decline cap is counted before the PSP call: two cards at once would
    both pass it. The second waits for the first (409 attempt_in_progress)."""
    from django.core.cache import cache

    answer = create(api)
    cache.add(f"pay-page:attempt:{Payment.objects.get().uuid}", 1, timeout=30)  # one in flight
    busy = confirm(page_path(answer), token="tok_visa")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "attempt_in_progress"
    assert fake_psp.intents[answer["transaction_id"]].status == "requires_payment_method"


def test_complete_reads_the_psp_only_for_authentication_and_not_on_every_call(api, fake_psp):
    answer = create(api)
    path = page_path(answer)
    complete = lambda: Client().post(f"{path}/complete", {}, content_type="application/json")  # noqa: E731
    reads = lambda: sum(1 for op, _ in fake_psp.calls if op == "retrieve_charge")  # noqa: E731

    complete()
    assert reads() == 0  # waiting for a card: nothing to read
    confirm(path, token="tok_threeDSecure2Required")
    for _ in range(5):
        complete()
    assert reads() == 1  # throttled per payment (PAYMENT_PAGE_SYNC_SECONDS)


def test_a_confirmation_whose_answer_is_lost_never_charges_twice(api, fake_psp):
    """The PSP charged but its answer was lost: the page says so, and another
    card from the impatient payer is refused by the PSP (a PaymentIntent is paid
    once); the payment is settled from the PSP."""
    answer = create(api)
    fake_psp.fault("confirm", "timeout_after")
    lost = confirm(page_path(answer), token="tok_visa").json()
    assert lost["error"]["code"] == "psp_timeout" and "redirect_url" in lost

    again = confirm(page_path(answer), token="tok_visa").json()  # same token: the PSP's stored answer
    other = confirm(page_path(answer), token="tok_threeDSecure2Required").json()
    payment = Payment.objects.get()
    assert again["status"] == other["status"] == payment.status == PaymentStatus.SUCCEEDED
    assert fake_psp.money_taken(str(payment.uuid)) == payment.amount_minor
