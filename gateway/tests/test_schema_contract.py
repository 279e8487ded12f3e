"""The OpenAPI schema says what the API does: readable operation ids and tags,
every field the answers carry (declared, typed, nullable where they can be
null), typed inputs, and the paginated events list."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.fast

TAGS = {"payments", "otp", "stripe", "health", "webhook_endpoints"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _component(schema, name):
    return schema["components"]["schemas"][name]


def test_every_operation_has_a_readable_id_and_one_tag(schema):
    ids = []
    for path, method, operation in _operations(schema):
        assert re.fullmatch(
            r"(payments|otp|stripe|health|webhook_endpoints)\.[a-z_]+", operation["operationId"]
        ), (
            path,
            method,
        )
        assert len(operation["tags"]) == 1 and operation["tags"][0] in TAGS, (path, method)
        assert operation["operationId"].split(".")[0] == operation["tags"][0]
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)) >= 18
    assert {"payments.process", "payments.refund", "otp.validate", "stripe.create_payment"} <= set(ids)


def test_answers_declare_every_field_they_carry(schema):
    answer = _component(schema, "PaymentAnswer")["properties"]
    refund_answer = _component(schema, "RefundAnswer")["properties"]
    error = _component(schema, "ErrorDetail")["properties"]

    assert (
        "client_secret" in answer and "client_secret" not in _component(schema, "PaymentAnswer")["required"]
    )
    assert answer["receipt_url"].get("nullable") is True
    assert "payment" in refund_answer
    for field in (
        "decline_code",
        "attempts_left",
        "refundable_minor",
        "retry_after",
        "payment_id",
        "status",
        "next_action",
        "allowed",
    ):
        assert field in error, field
    process = schema["paths"]["/api/v1/payments/process"]["post"]["responses"]["201"]
    assert process["content"]["application/json"]["schema"]["$ref"].endswith("/PaymentAnswer")


def test_inputs_are_typed(schema):
    process_body = _component(schema, "PaymentProcess")["properties"]
    listing = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/payments"]["get"]["parameters"]}

    assert process_body["amount"]["type"] == "string" and process_body["amount"]["format"] == "decimal"
    assert "oneOf" not in process_body["amount"]  # never "float | str"
    assert set(listing["status"]["enum"]) >= {"succeeded", "requires_capture", "refunded"}
    assert listing["created_gte"]["format"] == listing["created_lte"]["format"] == "date-time"


def test_events_are_a_paginated_list_and_readiness_has_a_schema(schema):
    events = schema["paths"]["/api/v1/payments/{payment_id}/events"]["get"]
    ready = schema["paths"]["/health/ready"]["get"]["responses"]

    events_ref = events["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"next", "previous", "results"} <= set(_component(schema, events_ref)["properties"])
    assert {p["name"] for p in events["parameters"]} >= {"cursor", "limit"}
    for status in ("200", "503"):
        assert ready[status]["content"]["application/json"]["schema"]["$ref"].endswith("/Readiness")


def test_every_post_that_changes_something_declares_the_idempotency_key(schema):
    """docs/api.md names the two POSTs without one; every other takes it."""
    without_key = {"stripe.validate_card", "stripe.webhook"}
    for path_item in schema["paths"].values():
        operation = path_item.get("post")
        if not operation:
            continue
        takes_key = "Idempotency-Key" in [p["name"] for p in operation.get("parameters", [])]
        assert takes_key == (operation["operationId"] not in without_key), operation["operationId"]


def test_request_bodies_refuse_fields_they_do_not_take(schema):
    schemas = schema["components"]["schemas"]
    for name in (
        "PaymentProcess",
        "CardInput",
        "RefundCreate",
        "AmountOnly",
        "OtpValidate",
        "StripeRefund",
        "WebhookEndpointCreate",
    ):
        assert schemas[name]["additionalProperties"] is False, name


def test_public_operations_need_no_key(schema):
    public = {
        op["operationId"]
        for item in schema["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and op.get("security") == []
    }
    assert public == {"health.live", "health.ready", "stripe.webhook"}


def test_webhook_endpoint_operations_declare_their_answers_and_the_shared_errors(schema):
    operations = {
        operation["operationId"]: operation
        for _, _, operation in _operations(schema)
        if operation["operationId"].startswith("webhook_endpoints.")
    }
    secret_shown = _component(schema, "WebhookEndpointWithSecret")["properties"]
    secret_hidden = _component(schema, "WebhookEndpoint")["properties"]

    assert set(operations) == {
        f"webhook_endpoints.{name}"
        for name in ("create", "list", "retrieve", "delete", "rotate_secret", "deliveries")
    }
    for operation_id, operation in operations.items():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"]["$ref"].endswith("/Error"), (
                    operation_id,
                    status,
                )
    assert "secret" in secret_shown and "secret" not in secret_hidden
    create = operations["webhook_endpoints.create"]["responses"]["201"]
    assert create["content"]["application/json"]["schema"]["$ref"].endswith("/WebhookEndpointWithSecret")
    assert "attempt_history" in _component(schema, "WebhookDelivery")["properties"]
