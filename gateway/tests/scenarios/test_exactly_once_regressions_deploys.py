"""Regression tests of issue #24, second part: rolling deploys, a PSP 401, the
capture key, the async task past the key window, key rotation, and what the
review of the fixes found. The first part and the shared helpers are in
test_exactly_once_regressions.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection

from gateway.tests.scenarios.test_exactly_once_regressions import ISSUE_24, money_taken, post, process
from payments.enums import PaymentStatus
from payments.models import IdempotencyKey, Payment
from payments.services.api_clients import api_client_rotate
from payments.services.idempotency import idempotency_begin
from payments.tests.fixtures import card

ROOT_PACKAGES = ("gateway", "payments", "otp", "stripe_integration")  # our code, beside third-party apps

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.fast,
    ISSUE_24,
]

LEASE = 90


@pytest.fixture(autouse=True)
def _lease(settings):
    settings.IDEMPOTENCY_LEASE_SECONDS = LEASE


# --- 5. rolling deploys -----------------------------------------------------------------------


def test_rows_inserted_by_the_previous_release_get_database_defaults(merchant):
    """A pod of the previous release inserts without naming the columns this
    release added: the database fills them in, instead of failing the INSERT."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_payment (uuid, public_id, client_id, order_id, amount_minor, currency,"
            " captured_minor, refunded_minor, status, description, metadata, email, card_brand, card_last4,"
            " card_fingerprint, payment_method_id, capture_method, stripe_payment_intent_id,"
            " stripe_charge_id, failure_code, failure_message, created_at, updated_at)"
            " VALUES (%s, 'pay_old', %s, 'o', 100, 'usd', 0, 0, 'pending', '', '{}', '', '', '', '', '',"
            " 'automatic', '', '', '', '', %s, %s)",
            [uuid.uuid4().hex, merchant.pk, "2026-01-05 09:00:00", "2026-01-05 09:00:00"],
        )
        cursor.execute(
            "INSERT INTO payments_idempotencykey (client_id, `key`, method, path, fingerprint, state,"
            " created_at, expires_at) VALUES (%s, 'old', 'POST', '/p', 'f', 'in_flight', %s, %s)"
            if connection.vendor == "mysql"
            else "INSERT INTO payments_idempotencykey (client_id, key, method, path, fingerprint, state,"
            " created_at, expires_at) VALUES (%s, 'old', 'POST', '/p', 'f', 'in_flight', %s, %s)",
            [merchant.pk, "2026-01-05 09:00:00", "2026-01-06 09:00:00"],
        )
    old = Payment.objects.get(public_id="pay_old")
    assert (old.review_reason, old.return_url, old.refund_count) == ("", "", 0)
    keys = IdempotencyKey.objects.get(key="old")
    assert keys.operation_uuid is not None and keys.locked_until is None


def test_a_key_claimed_by_a_release_without_leases_is_held_for_one_lease(merchant, sim_clock):
    record = IdempotencyKey.objects.create(
        client=merchant,
        key="old",
        method="POST",
        path="/p",
        fingerprint="f",
        expires_at=sim_clock.now() + timedelta(hours=24),
    )
    begin = dict(client=merchant, key="old", method="POST", path="/p", fingerprint="f")
    with pytest.raises(Exception) as in_use:
        idempotency_begin(**begin)
    assert in_use.value.code == "idempotency_key_in_use" and record.locked_until is None

    sim_clock.advance(LEASE + 1)
    assert idempotency_begin(**begin).resumed


def test_every_not_null_column_added_after_a_table_was_created_has_a_database_default(settings):
    """The class of the defect: a NOT NULL column added by a later migration
    without a database default breaks every INSERT of the previous release
    during a rolling deploy."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import AddField
    from django.db.models import NOT_PROVIDED

    settings.MIGRATION_MODULES = {}  # the files on disk, also when the test database skips them
    loader = MigrationLoader(None, ignore_no_migrations=True)
    added, missing = [], []
    ours = {c.label for c in apps.get_app_configs() if c.name.split(".")[0] in ROOT_PACKAGES}
    for app_label, name in sorted(loader.disk_migrations):
        if app_label not in ours:
            continue
        operations = loader.disk_migrations[(app_label, name)].operations
        # A table created by the same migration has no rows of an earlier release.
        created = {op.name_lower for op in operations if type(op).__name__ == "CreateModel"}
        for operation in operations:
            if isinstance(operation, AddField) and operation.model_name not in created:
                added.append(operation.name)
                if operation.field.null:
                    continue
                try:
                    field = apps.get_model(app_label, operation.model_name)._meta.get_field(operation.name)
                except (LookupError, FieldDoesNotExist):
                    continue  # removed since
                if field.db_default is NOT_PROVIDED and not field.null:
                    missing.append(f"{app_label}.{operation.model_name}.{operation.name} ({name})")
    assert {"review_reason", "return_url", "refund_count"} <= set(added)  # the walk saw them
    assert missing == []


# --- 6. a PSP 401/403 -------------------------------------------------------------------------


def test_a_rejected_psp_key_is_a_503_and_the_payment_stays_retryable(api, fake_psp):
    fake_psp.fault("charge", "unauthorized")
    first = process(api, key="k-401", payment_method="pm_card_visa", card=None)
    retry = process(api, key="k-401", payment_method="pm_card_visa", card=None)

    assert first.status_code == 503, first.json()
    assert first.json()["error"]["code"] == "psp_authentication_failed"
    assert retry.status_code == 201 and retry.json()["status"] == "succeeded"
    payment = Payment.objects.get()
    assert money_taken(fake_psp, payment) == payment.captured_minor == 1999


# --- 7. the capture key -----------------------------------------------------------------------


def test_a_capture_of_another_amount_after_a_failed_one_is_not_refused_as_a_reused_key(api, fake_psp):
    authorized = process(api, payment_method="pm_card_visa", card=None, capture_method="manual").json()
    assert authorized["status"] == "requires_capture", authorized
    path = f"/api/v1/payments/{authorized['payment_id']}/capture"

    fake_psp.fault("capture", "server_error_stored")
    failed = post(api, path, {"amount": "19.99"})
    smaller = post(api, path, {"amount": "10.00"})

    assert failed.status_code == 503
    assert smaller.status_code == 200, smaller.json()
    assert smaller.json()["captured_minor"] == 1000
    assert money_taken(fake_psp, Payment.objects.get()) == 1000


# --- 8. the async charge task past the PSP's key window ----------------------------------------


def test_an_async_charge_task_run_after_the_key_window_does_not_charge_again(
    api, fake_psp, sim_clock, monkeypatch
):
    from payments import tasks

    monkeypatch.setattr(tasks.payment_charge_task, "delay", lambda pk: None)
    process(api, payment_method="pm_card_visa", card=None, **{"async": True})
    payment = Payment.objects.get()
    fake_psp.fault("charge", "timeout_after")  # the first run charged, then lost the answer
    tasks.payment_charge_task(payment.pk)
    sim_clock.advance(25 * 3600)  # redelivered a day later: the PSP forgot the key

    tasks.payment_charge_task(payment.pk)

    payment.refresh_from_db()
    assert len(fake_psp.intents_of(str(payment.uuid))) == 1
    assert payment.status == PaymentStatus.SUCCEEDED and payment.captured_minor == 1999


# --- 9. key rotation --------------------------------------------------------------------------


def test_a_retry_with_the_rotated_api_key_resumes_the_same_payment(api, merchant, fake_psp):
    fake_psp.fault("charge", "unauthorized")
    first = process(api, key="rot-1", payment_method="pm_card_visa", card=None)
    assert first.status_code == 503
    _, new_key = api_client_rotate(name=merchant.name)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")

    retry = process(api, key="rot-1", payment_method="pm_card_visa", card=None)

    assert retry.status_code == 201, retry.json()
    assert Payment.objects.count() == 1
    assert money_taken(fake_psp, Payment.objects.get()) == 1999


def test_a_retry_across_a_secret_key_rotation_replays_the_first_answer(api, fake_psp, settings):
    first = process(api, key="sec-1", card=card())
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    replay = process(api, key="sec-1", card=card())

    assert first.status_code == 201
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["payment_id"] == first.json()["payment_id"]
    assert len(fake_psp.intents) == 1


# --- found by the review of the fixes above ----------------------------------------------------


def test_a_refund_refused_with_401_is_failed_so_a_keyless_retry_never_refunds_twice(api, fake_psp, sim_clock):
    paid = process(api, payment_method="pm_card_visa", card=None, amount="100.00").json()
    path = f"/api/v1/payments/{paid['payment_id']}/refund"

    fake_psp.fault("refund", "unauthorized")
    refused = post(api, path, {"amount": "50.00"})
    retried = post(api, path, {"amount": "50.00"})  # no key: a new refund, as merchants do
    sim_clock.advance(601)
    from payments.models import Refund
    from payments.services.reconcile import refund_reconcile

    for refund in Refund.objects.filter(status="pending"):
        refund_reconcile(refund=refund, actor="system:reconcile")

    assert refused.status_code == 503 and retried.status_code == 201
    payment = Payment.objects.get()
    assert payment.refunded_minor == 5000
    assert money_taken(fake_psp, payment) == 5000


def test_a_review_is_not_cleared_while_a_second_payment_intent_holds_money(fake_psp, merchant):
    from payments.providers import ChargeRequest
    from payments.services.reconcile import payment_review_resolve
    from payments.tests.factories import PaymentFactory

    payment = PaymentFactory(client=merchant, status="processing", amount_minor=1000, review_reason="2 found")
    charges = [
        fake_psp.charge(
            request=ChargeRequest(
                amount_minor=1000,
                currency=payment.currency,
                idempotency_key=f"k{n}",
                payment_method_id="pm_card_visa",
                metadata={"gateway_payment_uuid": str(payment.uuid)},
            )
        )
        for n in range(2)
    ]
    fake_psp.clock.advance(120)  # past the search's index lag

    from gateway.core.errors import Conflict

    with pytest.raises(Conflict) as refused:
        payment_review_resolve(payment=payment, payment_intent_id=charges[0].payment_intent_id, actor="op")
    payment.refresh_from_db()
    resolved = payment_review_resolve(payment=payment, payment_intent_id="", return_charge=True, actor="op")

    assert refused.value.code == "psp_holds_money"
    assert resolved.status == PaymentStatus.SUCCEEDED and resolved.review_reason == ""
    assert money_taken(fake_psp, payment) == 1000  # the second charge went back, the first stays


def test_a_refund_retry_that_took_the_key_over_answers_the_refund_not_a_refusal(api, fake_psp, sim_clock):
    """A guard more than a regression: here the retry finds the refund by its
    resume path; the lookup under the row lock covers the concurrent case,
    where the retry waits for the lock while the first attempt reserves."""
    paid = process(api, payment_method="pm_card_visa", card=None, amount="100.00").json()
    path = f"/api/v1/payments/{paid['payment_id']}/refund"
    answers = {}

    def retry_during_the_refund(operation, phase, key):
        if operation == "refund" and phase == "before" and "retry" not in answers:
            answers["retry"] = None
            sim_clock.advance(LEASE + 1)
            answers["retry"] = post(api, path, {"amount": "60.00"}, key="refund-1")

    fake_psp.interleave = retry_during_the_refund
    first = post(api, path, {"amount": "60.00"}, key="refund-1")

    assert answers["retry"].status_code in (201, 202), answers["retry"].json()
    assert (
        first.status_code in (201, 202) and first.json()["refund_id"] == answers["retry"].json()["refund_id"]
    )
    assert money_taken(fake_psp, Payment.objects.get()) == 4000
