"""The server, as configured for production (gateway/server.py, Granian): on SIGTERM
it stops accepting and lets requests in flight finish."""

import signal
import threading
import time

import pytest
import requests

from conftest import server_start


@pytest.mark.reliability("Faults", "SIGTERM: the request in flight finishes, new ones are refused")
@pytest.mark.django_db(transaction=True)
def test_a_request_in_flight_finishes_after_sigterm(merchant, silent_port, settings):

    server, base = server_start(
        # The PSP hangs, so the payment request stays in flight for about 3 s.
        STRIPE_API_BASE=f"http://127.0.0.1:{silent_port}",
        STRIPE_TIMEOUT_SECONDS="3",
        STRIPE_MAX_NETWORK_RETRIES="0",
    )
    try:
        result: dict = {}

        def slow_payment():
            response = requests.post(
                f"{base}/api/v1/payments/process",
                timeout=30,
                headers={"Authorization": f"Bearer {merchant.raw_key}"},
                json={
                    "order_id": "o-sigterm",
                    "amount": "5.00",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                },
            )
            result["status"] = response.status_code
            result["body"] = response.json()

        started = time.monotonic()
        thread = threading.Thread(target=slow_payment)
        thread.start()
        time.sleep(1)  # the request is now waiting on the PSP
        server.send_signal(signal.SIGTERM)
        thread.join(timeout=35)
        exit_code = server.wait(timeout=35)
    finally:
        if server.poll() is None:
            server.kill()

    assert (
        result["status"] == 202
    )  # finished normally: the PSP timed out, the payment waits for reconciliation
    assert result["body"]["status"] == "processing"
    assert time.monotonic() - started >= 2.5
    assert exit_code == 0
    with pytest.raises(requests.RequestException):
        requests.get(f"{base}/health", timeout=1)  # nothing is served after shutdown
