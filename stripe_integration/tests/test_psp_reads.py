"""GET /api/v1/stripe/payment/{id} reads on from the PSP only while the PSP can
still change the payment, under the client's own psp_read limit (fake PSP)."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.fast]


def _reads(fake_psp) -> int:
    return sum(1 for operation, _ in fake_psp.calls if operation.startswith("retrieve"))


@pytest.mark.reliability(
    "Security hardening",
    "/health/ready does not require the PSP and gives details to internal callers only; /metrics needs the "
    "token through the ingress; GET /stripe/payment/{id} reads the PSP only for open payments, under "
    "psp_read",
)
def test_a_settled_payment_is_answered_as_stored_without_a_psp_call(api, fake_pay, fake_psp, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "psp_read": "1/m"}
    payment_id = fake_pay().json()["payment_id"]
    before = _reads(fake_psp)

    answers = [api.get(f"/api/v1/stripe/payment/{payment_id}") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json()["status"] == "succeeded"
    assert _reads(fake_psp) == before


@pytest.mark.reliability(
    "Security hardening",
    "/health/ready does not require the PSP and gives details to internal callers only; /metrics needs the "
    "token through the ingress; GET /stripe/payment/{id} reads the PSP only for open payments, under "
    "psp_read",
)
def test_an_open_payment_is_refreshed_under_the_clients_own_lower_limit(
    api, other_api, fake_pay, fake_psp, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "psp_read": "2/m"}
    payment_id = fake_pay(capture_method="manual").json()["payment_id"]
    before = _reads(fake_psp)

    answers = [api.get(f"/api/v1/stripe/payment/{payment_id}").status_code for _ in range(3)]
    reads = _reads(fake_psp) - before
    others = other_api.get("/api/v1/payments").status_code

    assert answers == [200, 200, 429]
    assert reads == 2
    assert others == 200
