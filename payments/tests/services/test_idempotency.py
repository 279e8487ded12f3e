"""Idempotency-Key on POST: replays never charge or refund twice."""

import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import server_start
from payments.models import IdempotencyKey, Payment, Refund
from payments.tests.fixtures import payment_body, psp_intents, run_at_once


def _intents_for_order(order_id: str) -> list:
    return psp_intents(order_id=order_id)


@pytest.mark.reliability(
    "Security hardening",
    "The stored idempotent answer holds no client_secret; a replay answers without it",
)
@pytest.mark.django_db
def test_a_replay_returns_the_first_answer_and_charges_once(pay):
    order_id = f"order_{uuid.uuid4().hex}"
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-1"}

    first = pay(headers=headers, order_id=order_id)
    second = pay(headers=headers, order_id=order_id)

    assert first.status_code == second.status_code == 201
    # client_secret is for the first answer only: it is never stored, so never replayed.
    assert second.json() == {k: v for k, v in first.json().items() if k != "client_secret"}
    assert "client_secret" in first.json()
    assert "client_secret" not in IdempotencyKey.objects.get(key="key-1").response_body
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Payment.objects.count() == 1
    assert len(_intents_for_order(order_id)) == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(pay):
    pay(headers={"HTTP_IDEMPOTENCY_KEY": "key-2"}, amount="10.00")

    response = pay(headers={"HTTP_IDEMPOTENCY_KEY": "key-2"}, amount="11.00")

    assert response.status_code == 422
    assert response.json()["error"]["type"] == "idempotency_error"
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_a_decline_is_replayed_as_the_same_402(pay):
    from payments.tests.fixtures import card

    headers = {"HTTP_IDEMPOTENCY_KEY": "key-declined"}
    first = pay(headers=headers, card=card("4000000000000341"))
    second = pay(headers=headers, card=card("4000000000000341"))

    assert first.status_code == second.status_code == 402
    assert second.json() == first.json()
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_client(api, other_api, localstripe):
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared-name"}

    mine = api.post("/api/v1/payments/process", payment_body(), format="json", **headers)
    theirs = other_api.post("/api/v1/payments/process", payment_body(), format="json", **headers)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["payment_id"] != theirs.json()["payment_id"]


@pytest.mark.django_db
def test_a_refund_replay_refunds_once(api, pay):
    payment_id = pay().json()["payment_id"]
    path = f"/api/v1/payments/{payment_id}/refund"

    first = api.post(path, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")
    second = api.post(path, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")

    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 10_000, "", "caf\u00e9", "tab\there"])
@pytest.mark.django_db
def test_an_unusable_key_is_400_and_nothing_happens(pay, key):
    response = pay(headers={"HTTP_IDEMPOTENCY_KEY": key})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_key_whose_first_request_is_in_flight_is_409(pay):
    pay(headers={"HTTP_IDEMPOTENCY_KEY": "busy"})
    # As if the first request were still running: claimed, its lease not run out.
    IdempotencyKey.objects.filter(key="busy").update(
        state=IdempotencyKey.State.IN_FLIGHT, locked_until=timezone.now() + timedelta(seconds=30)
    )

    response = pay(headers={"HTTP_IDEMPOTENCY_KEY": "busy"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert 1 <= int(response["Retry-After"]) <= 5
    assert Payment.objects.count() == 1


@pytest.mark.reliability(
    "Exactly once",
    "A claim left in flight by a dead process is taken over after its lease: the same payment, one charge",
)
@pytest.mark.django_db
def test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease(pay):
    order_id = f"order_{uuid.uuid4().hex}"
    first = pay(
        headers={"HTTP_IDEMPOTENCY_KEY": "orphan"},
        order_id=order_id,
        card=None,
        payment_method="pm_card_visa",
    )
    # As if the process had died before completing the key: in flight, its lease run out.
    IdempotencyKey.objects.filter(key="orphan").update(
        state=IdempotencyKey.State.IN_FLIGHT,
        response_status=None,
        response_body=None,
        locked_until=timezone.now() - timedelta(seconds=1),
    )

    retry = pay(
        headers={"HTTP_IDEMPOTENCY_KEY": "orphan"},
        order_id=order_id,
        card=None,
        payment_method="pm_card_visa",
    )

    assert retry.status_code == 201
    assert retry.json()["payment_id"] == first.json()["payment_id"]  # the same payment, resumed
    assert Payment.objects.filter(order_id=order_id).count() == 1
    assert len(_intents_for_order(order_id)) == 1
    assert IdempotencyKey.objects.get(key="orphan").state == IdempotencyKey.State.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_the_same_key_at_the_same_moment_from_two_threads_charges_once(merchant, localstripe):
    order_id = f"order_{uuid.uuid4().hex}"

    def send() -> int:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant.raw_key}")
        response = api.post(
            "/api/v1/payments/process",
            payment_body(order_id=order_id),
            format="json",
            HTTP_IDEMPOTENCY_KEY="race-key",
        )
        return response.status_code

    statuses = run_at_once(2, send)

    assert sorted(statuses) in ([201, 201], [201, 409])
    assert Payment.objects.filter(order_id=order_id).count() == 1
    assert len(_intents_for_order(order_id)) == 1


@pytest.mark.django_db
def test_expired_keys_are_purged_and_can_be_used_again(pay, merchant):
    pay(headers={"HTTP_IDEMPOTENCY_KEY": "old"}, payment_id="pay_old")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    call_command("idempotency_purge", stdout=StringIO())

    assert not IdempotencyKey.objects.exists()
    assert pay(headers={"HTTP_IDEMPOTENCY_KEY": "old"}, payment_id="pay_new").status_code == 201


@pytest.mark.reliability(
    "Concurrency",
    "50 identical requests, one Idempotency-Key, two server processes: one charge",
)
@pytest.mark.django_db(transaction=True)
def test_fifty_identical_requests_across_two_server_processes_charge_once(merchant, localstripe):
    order_id = f"order_{uuid.uuid4().hex}"
    servers = [server_start(WEB_THREADS="8") for _ in range(2)]
    barrier, answers = threading.Barrier(50), []

    def send(base: str) -> None:
        barrier.wait()
        response = requests.post(
            f"{base}/api/v1/payments/process",
            json=payment_body(order_id=order_id, card=None, payment_method="pm_card_visa"),
            headers={"Authorization": f"Bearer {merchant.raw_key}", "Idempotency-Key": "storm"},
            timeout=60,
        )
        answers.append((response.status_code, response.json()))

    try:
        threads = [threading.Thread(target=send, args=(servers[i % 2][1],)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=35)

    assert len(answers) == 50
    assert {status for status, _ in answers} <= {201, 409}
    created = [body for status, body in answers if status == 201]
    assert created and len({body["payment_id"] for body in created}) == 1  # the same payment every time
    assert all(body["error"]["code"] == "idempotency_key_in_use" for status, body in answers if status == 409)
    assert Payment.objects.filter(order_id=order_id).count() == 1
    assert len(_intents_for_order(order_id)) == 1  # one charge at the PSP


@pytest.mark.reliability(
    "Security hardening",
    "Idempotency-Key fingerprint: an HMAC under the server's secret, never a plain hash of a body holding a "
    "card (also for requests refused with raw_card_data_not_accepted)",
)
@pytest.mark.django_db
def test_the_stored_fingerprint_is_a_keyed_hash_never_a_plain_hash_of_the_card(pay, settings):
    import hashlib
    import json

    from payments.tests.fixtures import card

    settings.ACCEPT_RAW_CARD_DATA = True
    accepted = pay(headers={"HTTP_IDEMPOTENCY_KEY": "fp-card"}, card=card())
    record = IdempotencyKey.objects.get(key="fp-card")
    body = payment_body(card=card())
    # What a plain hash of this body would be, in the usual canonical forms: none may be stored.
    plain = {
        hashlib.sha256(f"POST /api/v1/payments/process\n{text}".encode()).hexdigest()
        for text in (
            json.dumps(body, sort_keys=True, separators=(",", ":")),
            json.dumps(body, sort_keys=True),
            json.dumps(body),
        )
    } | {hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()}

    assert accepted.status_code == 201
    assert record.fingerprint and record.fingerprint not in plain
    assert "4242424242424242" not in json.dumps(record.response_body)
    settings.SECRET_KEY = "another-server-secret-" + "z" * 40
    again = pay(headers={"HTTP_IDEMPOTENCY_KEY": "fp-card"}, card=card())
    assert again.status_code == 422  # keyed by the server's secret: another secret, another fingerprint


@pytest.mark.reliability(
    "Security hardening",
    "Card data and secrets at rest: no Idempotency-Key fingerprint for a raw card refused before any work (a "
    "migration forgets earlier ones); client_secret kept nowhere (next_action, stored answers, webhooks); "
    "the cache holds JSON, never pickle; disputes re-fetched and checked against the payment's charge",
)
@pytest.mark.django_db
def test_a_raw_card_refused_before_any_work_leaves_no_key_and_no_fingerprint(pay, settings):
    from payments.tests.fixtures import card

    settings.ACCEPT_RAW_CARD_DATA = False
    refused = pay(headers={"HTTP_IDEMPOTENCY_KEY": "refused-card"}, card=card())
    again = pay(headers={"HTTP_IDEMPOTENCY_KEY": "refused-card"}, card=card())

    assert refused.status_code == again.status_code == 400
    assert refused.json()["error"]["code"] == "raw_card_data_not_accepted"
    assert not IdempotencyKey.objects.filter(key="refused-card").exists()


@pytest.mark.reliability(
    "Security hardening",
    "Card data and secrets at rest: no Idempotency-Key fingerprint for a raw card refused before any work (a "
    "migration forgets earlier ones); client_secret kept nowhere (next_action, stored answers, webhooks); "
    "the cache holds JSON, never pickle; disputes re-fetched and checked against the payment's charge",
)
@pytest.mark.django_db
def test_the_migration_forgets_the_fingerprints_earlier_releases_kept_for_refused_cards(merchant):
    import importlib

    from django.apps import apps
    from django.utils import timezone

    migration = importlib.import_module("payments.migrations.0012_forget_fingerprints_of_refused_raw_cards")
    expires = timezone.now() + timezone.timedelta(hours=1)
    refused_body = {"error": {"type": "invalid_request_error", "code": "raw_card_data_not_accepted"}}
    for key, body in (("old-refused", refused_body), ("old-paid", {"payment_id": "pay_x"})):
        IdempotencyKey.objects.create(
            client=merchant,
            key=key,
            method="POST",
            path="/api/v1/payments/process",
            fingerprint="f" * 64,
            state="completed",
            response_status=400,
            response_body=body,
            expires_at=expires,
        )

    migration.forget(apps, None)

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["old-paid"]
