"""Server-Timing: the gateway's own time, the PSP's, and the database's, per response."""

import re

import pytest


def _timings(response) -> dict[str, float]:
    header = response["Server-Timing"]
    return {name: float(value) for name, value in re.findall(r"(\w+);dur=([\d.]+)", header)}


@pytest.mark.django_db
def test_a_payment_reports_app_psp_and_db_time(pay):
    response = pay()

    timings = _timings(response)
    assert response.status_code == 201
    assert timings["psp"] > 0  # tokenize + charge at localstripe, over real HTTP
    assert timings["db"] > 0
    assert abs(timings["app"] + timings["psp"] - timings["total"]) < 0.2
    queries = int(re.search(r'desc="(\d+) queries"', response["Server-Timing"]).group(1))
    assert queries > 0


def test_health_spends_no_time_at_the_psp(client):
    timings = _timings(client.get("/health"))

    assert timings["psp"] == 0
    assert timings["app"] == pytest.approx(timings["total"], abs=0.2)
