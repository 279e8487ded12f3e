"""The scanner `make test` runs over everything a test run leaves behind
(scripts/scan_card_data.py) finds card data, and only card data."""

from conftest import load_script

scanner = load_script("scan_card_data")


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


def test_it_leaves_alone_what_is_not_card_data():
    text = (
        "order 1234567890123456; took 0.4242424242424242 s; pi_4242424242424242x; "
        "uuid 42424242-4242-4242-4242-424242424242; offset 1795816473; param card.cvc invalid"
    )
    assert scanner.scan("sample", text) == []
