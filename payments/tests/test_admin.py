"""The operators' admin, through Django's test client (the browser test is in gateway/tests)."""

import json
import re
from io import StringIO

import factory
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.test import Client

from conftest import staff_login
from payments.models import ApiClient, Payment, PaymentEvent, Refund
from payments.selectors import api_client_get_by_key
from payments.services.operators import OPERATORS_GROUP
from payments.tests.factories import SucceededPaymentFactory

pytestmark = pytest.mark.django_db


def _staff(username: str, *, operator: bool) -> Client:
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True)
    if operator:
        user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    else:  # may look, may not refund
        user.user_permissions.add(*Permission.objects.filter(codename__in=["view_payment", "view_refund"]))
    return staff_login(Client(), user)


@pytest.fixture
def alice():
    return _staff("alice", operator=True)


@pytest.fixture
def viewer():
    return _staff("victor", operator=False)


@pytest.fixture
def paid(pay):
    return Payment.objects.get(public_id=pay(amount="20.00", order_id="order_admin").json()["payment_id"])


def test_the_operators_group_may_view_and_refund():
    perms = set(Group.objects.get(name=OPERATORS_GROUP).permissions.values_list("codename", flat=True))

    assert {
        "refund_payment",
        "view_payment",
        "view_refund",
        "view_paymentevent",
        "view_outboxevent",
        "view_stripewebhookevent",
    } <= perms
    assert "change_payment" not in perms and "delete_payment" not in perms


def test_the_changelist_of_500_payments_runs_a_fixed_number_of_queries(
    alice, merchant, django_assert_max_num_queries
):
    Payment.objects.bulk_create(
        SucceededPaymentFactory.build_batch(
            500,
            client=merchant,
            amount_minor=factory.Sequence(lambda n: 1000 + n),
            currency=factory.Iterator(["jpy", "usd", "usd"]),
        )
    )

    # 12 for the page; one more saves the session, whose idle timeout each request slides on;
    # one reads the second factor the session passed (django-otp's middleware).
    with django_assert_max_num_queries(14):
        response = alice.get("/admin/payments/payment/")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('class="field-public_id"') == 50  # paginated
    assert "$10.01" in page or "¥" in page


def test_search_and_filters(alice, paid, pay):
    pay(order_id="someone_else")

    by_order = alice.get("/admin/payments/payment/?q=order_admin").content.decode()
    by_intent = alice.get(f"/admin/payments/payment/?q={paid.stripe_payment_intent_id}").content.decode()
    with_refunds = alice.get("/admin/payments/payment/?has_refunds=yes").content.decode()

    assert paid.public_id in by_order and "someone_else" not in by_order
    assert paid.public_id in by_intent
    assert paid.public_id not in with_refunds


def test_the_detail_page_is_read_only_and_shows_timeline_outbox_and_refund_button(alice, viewer, paid):
    page = alice.get(f"/admin/payments/payment/{paid.pk}/change/").content.decode()
    viewer_page = viewer.get(f"/admin/payments/payment/{paid.pk}/change/")

    assert 'id="refund-button"' in page
    assert "charge_succeeded" in page  # the timeline
    assert "payment.succeeded" in page  # the outbox rows
    assert "$20.00" in page
    assert 'name="amount_minor"' not in page and 'name="status"' not in page  # nothing editable
    assert viewer_page.status_code == 200
    assert 'id="refund-button"' not in viewer_page.content.decode()


def _submission_token(form_page) -> str:
    found = re.search(r'name="submission_token" value="([0-9a-f-]{36})"', form_page.content.decode())
    assert found, "the refund form carries a one-time submission token"
    return found.group(1)


def test_an_operator_refunds_through_the_form_with_an_audit_trail(alice, paid):
    form = alice.get(f"/admin/payments/payment/{paid.pk}/refund/")
    response = alice.post(
        f"/admin/payments/payment/{paid.pk}/refund/",
        {"amount": "7.50", "reason": "customer called", "submission_token": _submission_token(form)},
        follow=True,
    )

    assert 'value="20.00"' in form.content.decode()  # defaults to what remains
    assert response.status_code == 200
    assert "Refunded $7.50" in response.content.decode()
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor) == ("partially_refunded", 750)
    refund = Refund.objects.get(payment=paid)
    assert (refund.actor, refund.reason_text) == ("operator:alice", "customer called")
    assert PaymentEvent.objects.filter(payment=paid, type="refund_succeeded", actor="operator:alice").exists()
    assert "customer called" in LogEntry.objects.get(object_id=str(paid.pk)).change_message


@pytest.mark.reliability("Exactly once", "The admin refund form submitted twice (one-time token): one refund")
def test_the_refund_form_submitted_twice_refunds_once(alice, paid):
    form = alice.get(f"/admin/payments/payment/{paid.pk}/refund/")
    submission = {"amount": "5.00", "reason": "double click", "submission_token": _submission_token(form)}

    first = alice.post(f"/admin/payments/payment/{paid.pk}/refund/", submission, follow=True)
    second = alice.post(f"/admin/payments/payment/{paid.pk}/refund/", submission, follow=True)
    again = alice.get(f"/admin/payments/payment/{paid.pk}/refund/")

    assert "Refunded $5.00" in first.content.decode() and "Refunded $5.00" in second.content.decode()
    assert Refund.objects.filter(payment=paid).count() == 1
    paid.refresh_from_db()
    assert paid.refunded_minor == 500
    assert _submission_token(again) != submission["submission_token"]  # a new form, a new refund


def test_an_over_refund_from_the_admin_is_refused_with_a_message(alice, paid):
    form = alice.get(f"/admin/payments/payment/{paid.pk}/refund/")
    response = alice.post(
        f"/admin/payments/payment/{paid.pk}/refund/",
        {"amount": "25.00", "reason": "too much", "submission_token": _submission_token(form)},
        follow=True,
    )

    assert "Refund refused" in response.content.decode()
    assert not Refund.objects.exists()


def test_without_the_permission_there_is_no_refund(viewer, paid):
    form = viewer.get(f"/admin/payments/payment/{paid.pk}/refund/")
    post = viewer.post(f"/admin/payments/payment/{paid.pk}/refund/", {"amount": "1.00", "reason": "x"})
    changelist = viewer.get("/admin/payments/payment/").content.decode()

    assert form.status_code == post.status_code == 403
    assert "refund_action" not in changelist
    assert not Refund.objects.exists()


def test_a_new_api_client_shows_its_key_once(alice):
    superuser = User.objects.create_superuser("root", password="pw-root")
    client = staff_login(Client(), superuser)

    response = client.post("/admin/payments/apiclient/add/", {"name": "shop-b"}, follow=True)
    page = response.content.decode()
    raw_key = page.split('id="new-api-key">')[1].split("<")[0]
    listing = client.get("/admin/payments/apiclient/").content.decode()

    assert api_client_get_by_key(raw_key=raw_key).name == "shop-b"
    assert raw_key not in listing and ApiClient.objects.get(name="shop-b").key_prefix in listing


def test_the_overview_shows_volumes_rates_and_a_chart(alice, pay):
    from payments.tests.fixtures import card

    pay(amount="20.00")
    pay(card=card("4000000000000341"))

    page = alice.get("/admin/payments/payment/overview/").content.decode()
    index = alice.get("/admin/").content.decode()

    assert "$20.00" in page
    assert 'id="success-rate">50 %' in page
    assert "<svg" in page and "<polyline" in page
    assert 'id="overview-link"' in index


def test_refund_payment_command_uses_the_same_rules(paid):
    out = StringIO()
    call_command("refund_payment", paid.public_id, "--amount", "5.00", "--reason", "duplicate", stdout=out)

    assert "$5.00 succeeded" in out.getvalue()
    assert Refund.objects.get().actor.startswith("cli:")
    with pytest.raises(Exception, match="Refund refused"):
        call_command("refund_payment", paid.public_id, "--amount", "50.00", stdout=StringIO())


def test_payments_report_in_three_formats(paid):
    table, csv_out, json_out = StringIO(), StringIO(), StringIO()
    call_command("payments_report", "--since", "2000-01-01", "--until", "2100-01-01", stdout=table)
    call_command(
        "payments_report", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "csv", stdout=csv_out
    )
    call_command(
        "payments_report",
        "--since",
        "2000-01-01",
        "--until",
        "2100-01-01",
        "--format",
        "json",
        stdout=json_out,
    )

    assert "succeeded" in table.getvalue() and "20.00" in table.getvalue()
    assert csv_out.getvalue().splitlines()[0].startswith("currency,status,count")
    assert json.loads(json_out.getvalue())[0]["captured_minor"] == 2000


def _action(client, model_path: str, action: str, pks) -> str:
    response = client.post(
        f"/admin/{model_path}/", {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def root():
    return staff_login(Client(), User.objects.create_superuser("root", password="pw-root"))


def test_sync_from_stripe_settles_a_payment_stuck_in_processing(alice, paid):
    Payment.objects.filter(pk=paid.pk).update(status="processing", captured_minor=0)

    page = _action(alice, "payments/payment", "sync_from_stripe", [paid.pk])

    assert "1 changed status" in page
    paid.refresh_from_db()
    assert paid.status == "succeeded"


def test_resend_otp_asks_for_a_new_code(alice, pay, settings, django_capture_on_commit_callbacks):
    import time

    from django.core import mail

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.OTP_RESEND_COOLDOWN_SECONDS = 1
    held = Payment.objects.get(public_id=pay(require_otp=True, email="p@example.com").json()["payment_id"])
    time.sleep(1.1)  # the first code's resend cooldown

    with django_capture_on_commit_callbacks(execute=True):
        page = _action(alice, "payments/payment", "resend_otp", [held.pk])

    assert "Asked for 1 new code(s)" in page
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["p@example.com"]


def test_revoking_an_api_client_from_the_admin(root, merchant):
    _action(root, "payments/apiclient", "revoke", [merchant.pk])

    assert api_client_get_by_key(raw_key=merchant.raw_key) is None


def test_the_outbox_page_shows_pending_events_and_publishes_them(root, paid, kafka_brokers):
    from gateway.events.models import OutboxEvent

    pending = OutboxEvent.objects.filter(published_at__isnull=True).count()
    listing = root.get("/admin/events/outboxevent/").content.decode()
    page = _action(
        root, "events/outboxevent", "publish_now", list(OutboxEvent.objects.values_list("pk", flat=True))
    )

    assert f"Outbox: {pending} event(s) pending" in listing
    assert f"Published {pending}; 0 pending" in page


@pytest.mark.reliability(
    "Security hardening",
    "Events published to merchants say `operator`, never the operator's username",
)
def test_events_of_an_operators_refund_do_not_name_the_operator(alice, paid):
    from gateway.events.models import OutboxEvent

    form = alice.get(f"/admin/payments/payment/{paid.pk}/refund/")
    alice.post(
        f"/admin/payments/payment/{paid.pk}/refund/",
        {"amount": "1.00", "reason": "goodwill", "submission_token": _submission_token(form)},
    )

    published = list(OutboxEvent.objects.filter(aggregate_id=paid.public_id, type__startswith="refund."))
    assert published and {event.payload["actor"] for event in published} == {"operator"}
    assert not any("alice" in json.dumps(event.payload) for event in published)
    assert PaymentEvent.objects.filter(payment=paid, actor="operator:alice").exists()  # the audit keeps it


@pytest.mark.reliability(
    "Security hardening",
    "The back office lists Payments, Refunds and API clients first and folds dj-stripe's mirror into one "
    "link; no Save button on a payment, amounts with thousands separators",
)
def test_the_back_office_lists_the_operators_records_first_and_folds_the_mirror(alice):
    root = staff_login(Client(), User.objects.create_superuser("root2", password="pw-root2"))
    page = root.get("/admin/").content.decode()
    sidebar_apps = re.findall(r'<caption>\s*<a href="/admin/([a-z_]+)/"', page)
    payments_models = re.findall(r'<a href="/admin/payments/([a-z]+)/"', page)
    mirror = root.get("/admin/djstripe/").content.decode()

    assert sidebar_apps[0] == "payments" and sidebar_apps[-1] == "djstripe"
    assert list(dict.fromkeys(payments_models))[:3] == ["payment", "refund", "apiclient"]
    assert "Stripe mirror (dj-stripe)" in page and "/admin/djstripe/coupon/" not in page
    assert "/admin/djstripe/coupon/" in mirror  # one click away


@pytest.mark.reliability(
    "Security hardening",
    "The back office lists Payments, Refunds and API clients first and folds dj-stripe's mirror into one "
    "link; no Save button on a payment, amounts with thousands separators",
)
def test_a_payment_page_has_no_save_buttons_even_for_a_superuser_and_amounts_have_separators(merchant):
    root = staff_login(Client(), User.objects.create_superuser("root3", password="pw-root3"))
    payment = SucceededPaymentFactory(client=merchant, amount_minor=1174776, currency="usd")

    page = root.get(f"/admin/payments/payment/{payment.pk}/change/").content.decode()

    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert "$11,747.76" in page
