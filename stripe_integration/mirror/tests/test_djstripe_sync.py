"""dj-stripe mirrors our payments' Stripe objects (synced after commit by a task)."""

import io

import pytest
from djstripe import models as djstripe_models

from payments.models import Payment
from stripe_integration.mirror.sync import djstripe_mirrored_payment_intent, djstripe_mirrored_refund_ids
from stripe_integration.mirror.tasks import djstripe_sync_task
from stripe_integration.services import stripe_local_bootstrap

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mirror_on(settings):
    # `make test` turns the mirror off for the rest of the suite (DJSTRIPE_MIRROR=off):
    # batches queued by other tests must not reach these tests' Redis set.
    settings.DJSTRIPE_MIRROR = "batch"


@pytest.fixture
def queued(monkeypatch) -> list[dict]:
    """The options of each mirror batch task asked for. Recorded instead of
    sent: a worker of the suite could otherwise take it. Everything else runs
    on the real Redis and MariaDB."""
    from stripe_integration.mirror.tasks import djstripe_sync_pending_task

    batches: list[dict] = []
    monkeypatch.setattr(djstripe_sync_pending_task, "apply_async", lambda **options: batches.append(options))
    return batches


@pytest.fixture
def djstripe_rows(localstripe):
    # localstripe has no /v1/account: dj-stripe needs these rows made locally.
    stripe_local_bootstrap(webhook_url="http://127.0.0.1:1/unused", register_at_psp=False)


def test_a_charge_and_a_refund_are_synced_and_linked(
    api, pay, djstripe_rows, django_capture_on_commit_callbacks
):
    payment_id = pay(amount="20.00").json()["payment_id"]
    with django_capture_on_commit_callbacks() as callbacks:
        api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json")
    payment = Payment.objects.get(public_id=payment_id)
    assert callbacks, "a sync is scheduled after the refund commits"

    synced = djstripe_sync_task(payment.pk)  # what the worker runs

    payment.refresh_from_db()
    assert djstripe_mirrored_payment_intent(payment=payment).id == payment.stripe_payment_intent_id
    intent = djstripe_models.PaymentIntent.objects.get(id=payment.stripe_payment_intent_id)
    assert intent.stripe_data["amount"] == 2000
    assert djstripe_models.Charge.objects.filter(id=payment.stripe_charge_id).exists()
    refund = payment.refunds.get()
    assert djstripe_mirrored_refund_ids(payment=payment) == {refund.stripe_refund_id}
    assert set(synced) >= {
        payment.stripe_payment_intent_id,
        payment.stripe_charge_id,
        refund.stripe_refund_id,
    }


def test_the_sync_task_is_harmless_to_repeat_and_for_a_missing_payment(pay, djstripe_rows):
    payment = Payment.objects.get(public_id=pay().json()["payment_id"])

    first, second = djstripe_sync_task(payment.pk), djstripe_sync_task(payment.pk)

    assert first == second
    assert djstripe_models.PaymentIntent.objects.filter(id=payment.stripe_payment_intent_id).count() == 1
    assert djstripe_sync_task(10**9) == []


def test_a_failing_sync_never_fails_the_payment(pay, settings, django_capture_on_commit_callbacks):
    # No dj-stripe Account row here, so dj-stripe's sync fails (localstripe has no /v1/account).
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        response = pay()

    assert response.status_code == 201
    assert djstripe_mirrored_payment_intent(payment=Payment.objects.get()) is None


def test_a_second_refund_syncs_only_itself(api, pay, djstripe_rows):
    payment_id = pay(amount="20.00").json()["payment_id"]
    payment = Payment.objects.get(public_id=payment_id)
    api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "1.00"}, format="json")
    first = djstripe_sync_task(payment.pk)
    api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "2.00"}, format="json")

    second = djstripe_sync_task(payment.pk)

    old, new = payment.refunds.order_by("id")
    assert old.stripe_refund_id in first
    assert new.stripe_refund_id in second and old.stripe_refund_id not in second
    assert (
        djstripe_models.Refund.objects.filter(id__in=[old.stripe_refund_id, new.stripe_refund_id]).count()
        == 2
    )


def test_the_mirror_never_stores_the_secret_key_when_a_sync_key_is_set(pay, settings, localstripe):
    from djstripe.models import APIKey

    # An rk_… key at Stripe; localstripe takes sk_ keys only (LOCALSTRIPE_QUIRKS).
    settings.DJSTRIPE_SYNC_KEY = "sk_test_readOnlySyncKey0000000000000"
    stripe_local_bootstrap(webhook_url="http://127.0.0.1:1/unused", register_at_psp=False)
    payment = Payment.objects.get(public_id=pay().json()["payment_id"])

    synced = djstripe_sync_task(payment.pk)

    assert payment.stripe_payment_intent_id in synced
    assert not APIKey.objects.filter(secret=settings.STRIPE_SECRET_KEY).exists()
    assert set(APIKey.objects.values_list("secret", flat=True)) == {settings.DJSTRIPE_SYNC_KEY}


@pytest.mark.reliability(
    "Security hardening",
    "Behind a proxy, production refuses to start without RATELIMIT_TRUSTED_PROXIES (the k8s manifests set "
    "them); each role needs only its own secrets (the relay and beat get no Stripe key or OTP secret); any "
    "_live_ key is live; dj-stripe sees only the rk_ sync key; production refuses the console e-mail "
    "backend; Kafka TLS/SASL and Redis AUTH/TLS are settings",
)
def test_without_a_sync_key_the_mirror_is_off_and_never_uses_the_secret_key(settings, merchant):
    from djstripe.models import APIKey

    from payments.services.payments import PaymentInput, payment_create

    payment = payment_create(
        client=merchant,
        data=PaymentInput(order_id="live-1", amount_minor=100, currency="usd"),
        actor="api:test",
    )
    Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id="pi_live_example")
    for secret in ("sk_live_51ExampleExampleExampleExample00", "sk_test_51ExampleExampleExampleExample00"):
        settings.STRIPE_SECRET_KEY = secret
        settings.DJSTRIPE_SYNC_KEY = ""
        assert djstripe_sync_task(payment.pk) == []
        settings.DJSTRIPE_SYNC_KEY = secret  # a misconfiguration that settings refuse; refused here too
        assert djstripe_sync_task(payment.pk) == []
    assert not APIKey.objects.filter(secret__startswith="sk_").exists()


def test_changes_in_one_burst_are_mirrored_once_by_one_batch(
    api, pay, djstripe_rows, queued, django_capture_on_commit_callbacks
):
    from stripe_integration.mirror import batches as mirror

    with django_capture_on_commit_callbacks(execute=True):
        payment_id = pay(amount="20.00").json()["payment_id"]
        api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "5.00"}, format="json")
        api.post(f"/api/v1/payments/{payment_id}/refund", {"amount": "1.00"}, format="json")
    payment = Payment.objects.get(public_id=payment_id)

    assert len(queued) == 1, "three changes, one batch"
    assert queued[0]["countdown"] == mirror.settings.DJSTRIPE_MIRROR_BATCH_SECONDS
    assert mirror.djstripe_mirror_backlog() == 1

    synced = []
    tried = mirror.djstripe_mirror_pending(sync=lambda pk: synced.append(pk) or djstripe_sync_task(pk))

    assert tried == 1 and synced == [payment.pk]
    assert mirror.djstripe_mirror_backlog() == 0
    assert djstripe_mirrored_refund_ids(payment=payment) == {
        r.stripe_refund_id for r in payment.refunds.all()
    }
    payment.refresh_from_db()
    assert djstripe_mirrored_payment_intent(payment=payment).id == payment.stripe_payment_intent_id


def test_a_batch_keeps_going_past_a_failing_payment_and_keeps_it_for_a_later_batch(pay, djstripe_rows):
    from stripe_integration.mirror import batches as mirror

    payment = Payment.objects.get(public_id=pay().json()["payment_id"])
    redis = mirror._redis()
    redis.sadd(mirror.PENDING_KEY, 10**9, payment.pk)

    def sync(pk):
        if pk == 10**9:
            raise RuntimeError("the PSP is down for this one")
        djstripe_sync_task(pk)

    assert mirror.djstripe_mirror_pending(sync=sync) == 2
    assert djstripe_models.PaymentIntent.objects.filter(id=payment.stripe_payment_intent_id).exists()
    assert redis.smembers(mirror.PENDING_KEY) == {str(10**9).encode()}, "kept for the next batch"

    for _ in range(mirror.MAX_ATTEMPTS - 1):  # each batch tries it once more, then it is left out
        mirror.djstripe_mirror_pending(sync=sync)
    assert mirror.djstripe_mirror_backlog() == 0
    assert not redis.hexists(mirror.ATTEMPTS_KEY, 10**9)


def test_a_change_during_its_sync_is_mirrored_again(pay, djstripe_rows):
    from stripe_integration.mirror import batches as mirror

    payment = Payment.objects.get(public_id=pay().json()["payment_id"])
    redis = mirror._redis()
    redis.sadd(mirror.PENDING_KEY, payment.pk)
    synced = []

    def sync(pk):
        if not synced:  # a refund commits while the first sync runs
            mirror.djstripe_mirror_soon(payment_pk=pk)
        synced.append(pk)

    mirror.djstripe_mirror_pending(sync=sync)

    assert synced == [payment.pk, payment.pk], "the later change is not lost"
    assert mirror.djstripe_mirror_backlog() == 0


def test_one_batch_at_a_time_and_a_batch_that_finds_another_comes_back(djstripe_rows, queued):
    from django.core.cache import cache

    from gateway.core.periodic import periodic_run_lock
    from stripe_integration.mirror import batches as mirror

    mirror._redis().sadd(mirror.PENDING_KEY, 12345)
    with periodic_run_lock("djstripe-mirror", ttl_seconds=60):
        assert mirror.djstripe_mirror_pending(sync=lambda pk: None) is None

    assert mirror.djstripe_mirror_backlog() == 1, "left for the batch that runs"
    # It comes back after the batch window, and still counts as the queued batch:
    # a change meanwhile does not queue a second one.
    assert queued == [{"countdown": mirror.settings.DJSTRIPE_MIRROR_BATCH_SECONDS}]
    assert cache.get(mirror._QUEUED_KEY) == 1


def test_beat_queues_a_batch_for_payments_left_waiting_with_none_queued(djstripe_rows, queued):
    from django.core.cache import cache

    from stripe_integration.mirror import batches as mirror

    assert mirror.djstripe_mirror_sweep() is False, "nothing waits"

    mirror._redis().sadd(mirror.PENDING_KEY, 12345)  # a change whose batch was never queued
    assert mirror.djstripe_mirror_sweep() is True
    assert mirror.djstripe_mirror_sweep() is False, "one is queued now"
    assert len(queued) == 1 and cache.get(mirror._QUEUED_KEY) == 1


@pytest.mark.parametrize("mode", ["off", "lazy"])
def test_off_or_lazy_a_change_queues_nothing(pay, settings, queued, mode, django_capture_on_commit_callbacks):
    from stripe_integration.mirror import batches as mirror

    settings.DJSTRIPE_MIRROR = mode
    with django_capture_on_commit_callbacks(execute=True):
        assert pay(order_id=f"mirror-{mode}").status_code == 201

    assert queued == []
    assert mirror.djstripe_mirror_backlog() == 0


def _mirror_action_on_a_new_payment(admin_client, pay, *, order_id: str):
    """Charges a payment, then runs "Mirror into dj-stripe" on it from the payments list."""
    payment = Payment.objects.get(public_id=pay(order_id=order_id).json()["payment_id"])
    return admin_client.post(
        "/admin/payments/payment/",
        {"action": "mirror_into_djstripe", "_selected_action": [payment.pk]},
        follow=True,
    )


def test_lazy_the_admin_action_queues_the_selected_payments_for_a_batch(pay, settings, queued, admin_client):
    from stripe_integration.mirror import batches as mirror

    settings.DJSTRIPE_MIRROR = "lazy"

    response = _mirror_action_on_a_new_payment(admin_client, pay, order_id="mirror-on-demand")

    assert response.status_code == 200
    assert "1 payment(s) queued for the dj-stripe mirror" in response.content.decode()
    assert mirror.djstripe_mirror_backlog() == 1
    assert len(queued) == 1


def test_with_the_mirror_off_the_admin_action_says_so(pay, settings, admin_client):
    from stripe_integration.mirror import batches as mirror

    settings.DJSTRIPE_MIRROR = "off"

    response = _mirror_action_on_a_new_payment(admin_client, pay, order_id="mirror-refused")

    assert "The dj-stripe mirror is off" in response.content.decode()
    assert mirror.djstripe_mirror_backlog() == 0


def test_the_djstripe_mirror_command_mirrors_named_payments_now(pay, djstripe_rows, settings):
    from django.core.management import call_command

    settings.DJSTRIPE_MIRROR = "lazy"
    payment_id = pay(order_id="mirror-command").json()["payment_id"]
    out = io.StringIO()

    call_command("djstripe_mirror", payment_id, stdout=out)

    payment = Payment.objects.get(public_id=payment_id)
    assert djstripe_mirrored_payment_intent(payment=payment).id == payment.stripe_payment_intent_id
    assert "mirrored 1 payment(s)" in out.getvalue()


def test_the_djstripe_mirror_command_needs_a_selection_and_the_mirror_on(settings):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Name payment ids, or --since"):
        call_command("djstripe_mirror")
    settings.DJSTRIPE_MIRROR = "off"
    with pytest.raises(CommandError, match="mirror is off"):
        call_command("djstripe_mirror", "--since", "1d")
