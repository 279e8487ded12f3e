"""POST /api/v1/stripe/validate-card: local checks only, the seed's 200 contract."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


def test_the_endpoint_answers_200_with_the_errors_when_the_card_is_invalid(api):
    response = api.post(
        "/api/v1/stripe/validate-card",
        {"card": {"number": "4242424242424241", "exp_month": "12", "exp_year": "2031", "cvc": "123"}},
        format="json",
    )

    body = response.json()
    assert response.status_code == 200
    assert body["valid"] is False
    assert (body["brand"], body["card_type"], body["last4"]) == ("visa", "visa", "4241")
    assert body["errors"][0] == {
        "field": "number",
        "code": "incorrect_number",
        "message": "The card number is not valid.",
    }
    assert "4242424242424241" not in response.content.decode()


def test_the_endpoint_accepts_the_seeds_example(api):
    response = api.post(
        "/api/v1/stripe/validate-card",
        {"card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}},
        format="json",
    )

    assert response.json()["valid"] is True
    assert response.json()["message"] == "Card is valid"


@pytest.mark.parametrize("body", [{}, {"card": "4242424242424242"}, {"card": {"number": "4242424242424242"}}])
def test_a_malformed_body_is_400(api, body):
    response = api.post("/api/v1/stripe/validate-card", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("card")


@pytest.mark.reliability(
    "Security hardening",
    "With ACCEPT_RAW_CARD_DATA off, /stripe/validate-card refuses card numbers too",
)
@pytest.mark.django_db
def test_with_raw_card_data_refused_validate_card_refuses_it_too(api, settings):
    settings.ACCEPT_RAW_CARD_DATA = False
    body = {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}

    response = api.post("/api/v1/stripe/validate-card", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "raw_card_data_not_accepted"
    assert "4242424242424242" not in response.content.decode()
