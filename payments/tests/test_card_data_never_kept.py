"""No card number (PAN) or CVC is stored, logged or answered after raw-card payments."""

import logging
import re

import pytest
from django.db import connection

from gateway.core.logging import redact_card_numbers
from payments.tests.fixtures import card

pytestmark = pytest.mark.django_db

PANS = ["4242424242424242", "4000002500003155", "4000000000000341"]


def _all_database_text() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.mark.reliability(
    "Security",
    "Card data: none in the database, logs, responses or events; the scanner finds what it must",
)
def test_no_card_number_in_the_database_logs_or_responses(pay, caplog):
    caplog.set_level(logging.DEBUG)  # everything any logger lets through
    responses = [pay(card=card(pan, cvc="987"), payment_id=f"pay_pan_{pan[-4:]}") for pan in PANS]
    responses.append(pay(card=card("4242 4242-4242 4242", cvc="987"), payment_id="pay_spaced"))

    database = _all_database_text()
    logs = "\n".join(record.getMessage() for record in caplog.records)
    bodies = "\n".join(response.content.decode() for response in responses)
    assert [r.status_code for r in responses] == [201, 201, 402, 201]
    assert "pay_pan_4242" in database  # the scan does see our rows
    for pan in PANS:
        assert pan not in database
        assert pan not in logs
        assert pan not in bodies
    # The CVC: no field holds it anywhere ("987" alone would match ids and timestamps).
    assert "cvc]=987" not in logs and "cvc=987" not in logs
    assert "cvc" not in bodies.lower()
    assert "cvc" not in database.lower()


def test_a_card_number_that_reaches_a_log_line_is_redacted():
    assert redact_card_numbers("card 4242424242424242 declined") == "card [REDACTED PAN] declined"
    assert redact_card_numbers("card 4242 4242 4242 4242") == "card [REDACTED PAN]"
    # Order numbers and timestamps that fail Luhn are left alone.
    assert redact_card_numbers("order 1234567890123456") == "order 1234567890123456"
    # stripe-python's DEBUG line for a tokenization, should it ever get through.
    line = "post_data=type=card&card[number]=4242424242424242&card[exp_month]=12&card[cvc]=987"
    assert redact_card_numbers(line) == (
        "post_data=type=card&card[number]=[REDACTED PAN]&card[exp_month]=12&card[cvc]=[REDACTED]"
    )
    assert redact_card_numbers('{"cvc": "1234"}') == '{"cvc": "[REDACTED]"}'
    # Digits that are part of a decimal number are a measurement, not a card.
    timing = "Task gateway.events.tasks.outbox_publish_task succeeded in 0.4242424242424242s: 1"
    assert redact_card_numbers(timing) == timing
    assert redact_card_numbers("card 4242424242424242.") == "card [REDACTED PAN]."


def _record_text(record: logging.LogRecord) -> str:
    """All a formatter could write of a record: the message, every attribute
    (arguments and `extra` fields, which a JSON formatter writes too) and the traceback."""
    traceback = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
    return "\n".join([record.getMessage(), repr(vars(record)), traceback])


class _TextsHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append((record.name, record.levelno, _record_text(record)))


@pytest.fixture
def emitted_records():
    """(logger, level, text) of every record as it was emitted: read by a handler
    placed first on the root logger, before the console handler's redaction filter
    masks a card in the record itself. What the code logs, not what the mask leaves."""
    handler = _TextsHandler()
    root = logging.getLogger()
    root.handlers.insert(0, handler)
    yield handler.texts
    root.removeHandler(handler)


def test_at_log_level_debug_the_psp_calls_of_a_raw_card_payment_log_no_card(pay, caplog, emitted_records):
    # LOG_LEVEL=DEBUG lowers the root logger, as caplog does here. stripe-python's
    # DEBUG lines carry each request body (card[number]=…&card[cvc]=…): they must
    # not become records, whatever the root's level.
    caplog.set_level(logging.DEBUG)

    response = pay(card=card("4000002500003155", cvc="987"))

    texts = [text for _, _, text in emitted_records]
    assert response.status_code == 201, response.json()
    # The capture sees the PSP traffic at DEBUG: the tokenization call is there.
    assert any("POST /v1/payment_methods" in text for text in texts)
    stripe_debug = [
        text
        for name, level, text in emitted_records
        if name.split(".")[0] == "stripe" and level < logging.INFO
    ]
    assert stripe_debug == []
    assert not [text for text in texts if "4000002500003155" in text]
    assert not [text for text in texts if re.search(r"cvc\W{0,8}987", text, re.IGNORECASE)]


@pytest.mark.reliability(
    "Security hardening",
    "stripe-python never prints request bodies (STRIPE_LOG neutralised); URL-encoded CVCs are redacted",
)
def test_stripe_python_never_prints_request_bodies_whatever_stripe_log_says(monkeypatch):
    import stripe

    from stripe_integration.client import stripe_console_logging_off

    monkeypatch.setattr(stripe._util, "STRIPE_LOG", "debug")  # as STRIPE_LOG=debug in the environment
    monkeypatch.setattr(stripe, "log", "debug")
    assert stripe._util._console_log_level() == "debug"

    stripe_console_logging_off()

    assert stripe._util._console_log_level() is None
    assert redact_card_numbers("card%5Bcvc%5D=123&card%5Bnumber%5D=4242424242424242") == (
        "card%5Bcvc%5D=[REDACTED]&card%5Bnumber%5D=[REDACTED PAN]"
    )
