import json
import logging

import pytest
from rest_framework.test import APIClient

from gateway.core.logging import JsonFormatter, RequestIdFilter
from gateway.core.request_context import reset_request_id, set_request_id

pytestmark = pytest.mark.fast


def test_a_given_request_id_is_echoed_back():
    response = APIClient().get("/health", HTTP_X_REQUEST_ID="order-42.retry_1")

    assert response["X-Request-ID"] == "order-42.retry_1"


def test_a_request_id_is_generated_when_none_is_given():
    first = APIClient().get("/health")["X-Request-ID"]
    second = APIClient().get("/health")["X-Request-ID"]

    assert first.startswith("req_") and second.startswith("req_")
    assert first != second


@pytest.mark.parametrize("bad", ["x" * 129, "abc def", "abc\u00e9", "<script>"])
def test_an_unsafe_request_id_is_replaced(bad):
    response = APIClient().get("/health", HTTP_X_REQUEST_ID=bad)

    assert response["X-Request-ID"].startswith("req_")


def _format(formatter, message):
    record = logging.LogRecord("gateway.test", logging.INFO, __file__, 1, message, None, None)
    RequestIdFilter().filter(record)
    return formatter.format(record)


def test_json_logs_carry_the_request_id_of_the_request_being_served():
    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
    token = set_request_id("req_abc")
    try:
        line = _format(formatter, "charged")
    finally:
        reset_request_id(token)

    payload = json.loads(line)
    assert payload["request_id"] == "req_abc"
    assert payload["message"] == "charged"
    assert payload["level"] == "INFO"
    assert payload["logger"] == "gateway.test"


def test_logs_outside_a_request_say_so():
    line = _format(JsonFormatter("%(message)s %(request_id)s"), "beat tick")

    assert json.loads(line)["request_id"] == "-"


@pytest.mark.django_db
def test_djangos_own_request_log_lines_carry_the_request_id(client):
    import io
    import logging

    from gateway.core.logging import RequestIdFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client.get("/api/v1/payments", HTTP_X_REQUEST_ID="req-from-the-client-1")
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 401
    assert "req-from-the-client-1 Unauthorized: /api/v1/payments" in stream.getvalue()
