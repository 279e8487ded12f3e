"""The scanner `make test` runs over everything a test run leaves behind
(scripts/scan_card_data.py) finds card data, and only card data."""

import pytest

from conftest import load_script

pytestmark = pytest.mark.fast

scanner = load_script("scan_card_data")


@pytest.mark.reliability(
    "Security",
    "Card data: none in the database, logs, responses or events; the scanner finds what it must",
)
def test_it_finds_card_numbers_and_cvcs_in_any_shape():
    text = (
        'card 4242424242424242 here; {"number": "4000 0566 5566 5556"}; amex 378282246310005; '
        'post card[cvc]=987; {"cvc": "1234"}'
    )
    hits = scanner.scan("sample", text)

    assert "sample: a card number ending 4242" in hits
    assert "sample: a card number ending 5556" in hits
    assert "sample: a card number ending 0005" in hits
    assert hits.count("sample: a CVC next to its name") == 2
    assert not any("4242424242424242" in hit for hit in hits)  # a finding never repeats the number


@pytest.mark.reliability(
    "Security",
    "Card data: none in the database, logs, responses or events; the scanner finds what it must",
)
def test_it_leaves_alone_what_is_not_card_data():
    text = (
        "order 1234567890123456; took 0.4242424242424242 s; pi_4242424242424242x; "
        "uuid 42424242-4242-4242-4242-424242424242; offset 1795816473; param card.cvc invalid"
    )
    assert scanner.scan("sample", text) == []


def test_a_mime_boundary_is_not_a_card_number_but_a_card_beside_it_is():
    # The boundary of an OTP e-mail the console backend printed in a worker's log
    # once failed a fresh-clone run: its 19 random digits passed the Luhn check.
    boundary = "===============2702103118182365747=="
    assert scanner.luhn("2702103118182365747")

    assert (
        scanner.scan("mail", f'Content-Type: multipart/alternative; boundary="{boundary}"\n--{boundary}--')
        == []
    )
    assert scanner.scan("mail", f"--{boundary}\ncard 4242424242424242") == ["mail: a card number ending 4242"]


def _log_a_traceback_holding_a_card(logger_name: str) -> None:
    import logging

    try:
        raise ValueError("charge refused for card 4242 4242 4242 4242, cvc=737")
    except ValueError:
        logging.getLogger(logger_name).exception("tokenization failed")


@pytest.mark.reliability(
    "Security hardening",
    "Log redaction covers tracebacks (exc_info) and stack text; the card-data scanner proves it",
)
def test_a_traceback_through_the_configured_handlers_carries_no_card_data():
    """The redaction filter covers exception text (exc_info) as well as the
    message; the scanner, which finds the card in the raw traceback, proves it."""
    import io
    import logging

    from gateway.core.logging import CardNumberRedactionFilter

    console = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, CardNumberRedactionFilter) for f in handler.filters)
    )
    raw, redacted = io.StringIO(), io.StringIO()
    unfiltered = logging.StreamHandler(raw)
    unfiltered.setFormatter(logging.Formatter("%(message)s"))
    previous = console.setStream(redacted)
    logger = logging.getLogger("gateway.tests.traceback")
    logger.addHandler(unfiltered)
    try:  # the logger's own handler sees the record before the root's console filters it
        _log_a_traceback_holding_a_card("gateway.tests.traceback")
    finally:
        logger.removeHandler(unfiltered)
        console.setStream(previous)

    assert "Traceback" in redacted.getvalue() and "ValueError" in redacted.getvalue()
    assert scanner.scan("raw", raw.getvalue())  # the scanner sees the card in a raw traceback
    assert scanner.scan("console", redacted.getvalue()) == []
    assert "[REDACTED PAN]" in redacted.getvalue()
