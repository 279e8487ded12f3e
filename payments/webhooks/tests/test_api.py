"""The webhook endpoints API: create, read, delete, rotate, the delivery log;
each endpoint is its client's alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from conftest import staff_login
from payments.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.fast, pytest.mark.django_db]


@pytest.fixture
def create(api, webhook_settings, django_capture_on_commit_callbacks):
    def post(**body):
        body.setdefault("events", ["*"])
        with django_capture_on_commit_callbacks(execute=True):
            return api.post("/api/v1/webhook_endpoints", body, format="json")

    return post


def test_creating_an_endpoint_answers_its_secret_once(api, create, receiver):
    response = create(url=receiver.url, events=["payment.succeeded", "refund.*"], description="orders")

    body = response.json()
    assert response.status_code == 201, body
    assert body["id"].startswith("we_") and body["secret"].startswith("whsec_")
    assert (body["url"], body["events"], body["status"]) == (
        receiver.url,
        ["payment.succeeded", "refund.*"],
        "enabled",
    )
    assert isinstance(body["created"], int)
    one = api.get(f"/api/v1/webhook_endpoints/{body['id']}").json()
    listed = api.get("/api/v1/webhook_endpoints").json()["results"]
    assert one["id"] == body["id"] and "secret" not in one
    assert [item["id"] for item in listed] == [body["id"]] and "secret" not in listed[0]


def test_a_replayed_create_or_rotation_never_keeps_or_answers_the_secret(api, webhook_settings, receiver):
    """The idempotency record keeps the answer 24 hours: never with the secret
    (an operator can read the record in the admin)."""
    from payments.models import IdempotencyKey

    body = {"url": receiver.url, "events": ["*"]}
    first = api.post("/api/v1/webhook_endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="we-1").json()
    again = api.post("/api/v1/webhook_endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="we-1")
    rotated = api.post(
        f"/api/v1/webhook_endpoints/{first['id']}/rotate_secret",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY="we-2",
    ).json()

    assert first["secret"].startswith("whsec_") and rotated["secret"].startswith("whsec_")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first["id"]
    assert "secret" not in again.json()
    stored = str(list(IdempotencyKey.objects.values_list("response_body", flat=True)))
    assert "whsec_" not in stored and first["secret"] not in stored and rotated["secret"] not in stored


def test_another_clients_endpoint_is_a_404_for_every_operation(create, other_api, receiver):
    endpoint_id = create(url=receiver.url).json()["id"]

    answers = [
        other_api.get(f"/api/v1/webhook_endpoints/{endpoint_id}"),
        other_api.delete(f"/api/v1/webhook_endpoints/{endpoint_id}"),
        other_api.post(f"/api/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
        other_api.get(f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries"),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert other_api.get("/api/v1/webhook_endpoints").json()["results"] == []
    assert WebhookEndpoint.objects.get().deleted_at is None


@pytest.mark.parametrize(
    "url, allow_local",
    [
        ("http://169.254.169.254/latest/meta-data/", True),
        ("https://[fe80::1]/", True),
        ("http://127.0.0.1:9/hooks", False),
        ("https://10.0.0.1/hooks", False),
        ("not a url", True),
    ],
)
def test_a_url_deliveries_may_not_go_to_is_refused_at_creation(create, webhook_settings, url, allow_local):
    webhook_settings.WEBHOOK_ALLOW_LOCAL_URLS = allow_local

    response = create(url=url)

    error = response.json()["error"]
    assert response.status_code == 400
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "webhook_url_not_allowed",
        "url",
    )


def test_unknown_event_types_and_unknown_fields_are_refused(create, receiver):
    unknown = create(url=receiver.url, events=["payment.succeded"])
    extra = create(url=receiver.url, secret="whsec_mine")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_event_type")
    assert (extra.status_code, extra.json()["error"]["code"]) == (400, "unknown_parameter")


def test_a_client_may_have_at_most_16_endpoints(create, receiver):
    for _ in range(16):
        assert create(url=receiver.url).status_code == 201

    refused = create(url=receiver.url)

    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "webhook_endpoint_limit_reached")


def test_rotating_answers_the_new_secret_once(api, create, receiver):
    created = create(url=receiver.url).json()

    rotated = api.post(f"/api/v1/webhook_endpoints/{created['id']}/rotate_secret")

    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.previous_secret == created["secret"] and endpoint.previous_secret_expires_at is not None


def test_deleting_hides_the_endpoint_and_stops_its_deliveries(api, create, receiver, commit_event, merchant):
    endpoint_id = create(url=receiver.url).json()["id"]
    receiver.answers = [500]
    commit_event(merchant)

    deleted = api.delete(f"/api/v1/webhook_endpoints/{endpoint_id}")

    assert deleted.status_code == 200 and deleted.json() == {"id": endpoint_id, "deleted": True}
    assert api.get(f"/api/v1/webhook_endpoints/{endpoint_id}").status_code == 404
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED  # the log stays
    commit_event(merchant)
    assert len(receiver.requests) == 1


def test_the_delivery_log_lists_each_delivery_with_its_attempts(
    api, create, receiver, commit_event, merchant
):
    endpoint_id = create(url=receiver.url).json()["id"]
    receiver.answers = [500]
    failed_once = commit_event(merchant)

    page = api.get(f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries?limit=10")
    pending = api.get(f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries?status=pending").json()["results"]
    wrong = api.get(f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries?status=lost")

    assert page.status_code == 200
    [item] = page.json()["results"]
    assert item["event_id"] == str(failed_once.event_id) and item["event_type"] == "payment.succeeded"
    assert (item["status"], item["attempts"], item["last_status_code"], item["last_error"]) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    assert item["next_attempt_at"] and item["delivered_at"] is None and item["created_at"]
    assert item["attempt_history"][0]["status_code"] == 500
    assert isinstance(item["last_duration_ms"], int)
    assert [p["event_id"] for p in pending] == [item["event_id"]]
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "status"


def test_the_admin_never_shows_the_secret_and_resends_only_with_its_permission(
    client, create, receiver, commit_event, merchant, django_capture_on_commit_callbacks
):
    secret = create(url=receiver.url).json()["secret"]
    receiver.answers = [500]
    commit_event(merchant)
    endpoint, delivery = WebhookEndpoint.objects.get(), WebhookDelivery.objects.get()
    viewer = User.objects.create_user("viewer", password="pw-viewer", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_webhookendpoint", "view_webhookdelivery"])
    )
    staff_login(client, viewer)

    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    listing = client.get("/admin/webhooks/webhookendpoint/?failing=yes")
    refused = client.post(
        "/admin/webhooks/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]}
    )

    assert page.status_code == 200 and secret not in page.content.decode()
    assert str(delivery.event_id) in page.content.decode()  # the recent deliveries inline
    assert endpoint.public_id in listing.content.decode()
    assert refused.status_code in (200, 302) and len(receiver.requests) == 1
    viewer.user_permissions.add(Permission.objects.get(codename="resend_webhookdelivery"))
    staff_login(client, User.objects.get(pk=viewer.pk))
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(
            "/admin/webhooks/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]}
        )
    assert resent.status_code == 302
    assert len(receiver.requests) == 2
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
