"""Crash: the gateway is killed with SIGKILL during a burst of payments, then
started again. Every PaymentIntent localstripe created belongs to a payment in
our database (the row is committed before the PSP is called), and
reconciliation settles every payment the crash left `processing` without ever
sending a charge: these requests had no Idempotency-Key and got no answer, so
their clients may have sent second payments (issue #24). A payment killed after
the PSP created its PaymentIntent is found by a search on our metadata and
settled; one killed before its charge left is parked for an operator, never
charged. No payment is charged twice.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from conftest import ROOT, free_closed_port, server_start, service_unavailable
from payments.models import Payment
from stripe_integration.client import stripe_client


def _intents_by_payment(prefix: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for intent in stripe_client().v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        metadata = intent.metadata or {}
        if str(metadata.get("order_id", "")).startswith(prefix):
            found.setdefault(metadata["payment_id"], []).append(intent.id)
    return found


@pytest.fixture
def own_localstripe(localstripe, settings):
    """A localstripe of this test's own, from scratch: the test lists every
    PaymentIntent at the PSP, and the suite's shared one holds thousands (its
    list scans its whole store for each page: 70 s)."""
    port = free_closed_port()
    server = subprocess.Popen(
        [sys.executable, "scripts/localstripe_loopback.py", "--port", str(port), "--from-scratch"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                service_unavailable("localstripe (the test's own)", f"{base} did not start")
            time.sleep(0.2)
    settings.STRIPE_API_BASE = base
    yield base
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.reliability(
    "Faults",
    "SIGKILL during a burst: every PSP charge has its payment; reconciliation settles the charged ones by "
    "search and parks the never-charged ones, sending no charge; zero double charges",
)
@pytest.mark.django_db(transaction=True)
def test_sigkill_during_a_burst_loses_no_charge(merchant, own_localstripe, settings):
    settings.PSP_SEARCH_LAG_SECONDS = 0  # our localstripe launcher's search has no index lag
    prefix = f"crash-{uuid.uuid4().hex[:8]}-"
    server, base = server_start(STRIPE_API_BASE=own_localstripe)
    stop, answered = threading.Event(), []

    def burst(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                response = requests.post(
                    f"{base}/api/v1/payments/process",
                    json={
                        "order_id": f"{prefix}{worker}-{n}",
                        "amount": "3.00",
                        "currency": "usd",
                        "payment_method": "pm_card_visa",
                    },
                    headers={"Authorization": f"Bearer {merchant.raw_key}"},
                    timeout=10,
                )
                answered.append(response.status_code)
            except requests.RequestException:
                return  # the server is gone

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    subprocess.run(["pkill", "-KILL", "-P", str(server.pid)], check=False)  # the worker, mid-request
    server.kill()
    server.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)

    ours = {p.public_id: p for p in Payment.objects.filter(order_id__startswith=prefix)}
    at_psp = _intents_by_payment(prefix)
    assert answered and set(answered) <= {201}
    assert len(ours) >= len(answered)  # every answered payment, and any cut off mid-request
    assert set(at_psp) <= set(ours)  # no charge at the PSP without its payment here

    # Started again, and reconciled as the beat task would.
    server, base = server_start(STRIPE_API_BASE=own_localstripe)
    try:
        call_command("stripe_reconcile", "--since", "1h", stdout=StringIO())
        assert requests.get(f"{base}/health", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=35)

    after = list(Payment.objects.filter(order_id__startswith=prefix))
    settled = {p.public_id: p.status for p in after if p.status == "succeeded"}
    parked = {p.public_id: p.status for p in after if p.review_reason}
    at_psp = _intents_by_payment(prefix)
    assert set(settled) | set(parked) == {p.public_id for p in after}  # none left without a decision
    assert set(at_psp) == set(settled)  # each succeeded payment has its charge; the parked ones none
    assert set(parked.values()) <= {"processing"}
    doubles = {payment_id: ids for payment_id, ids in at_psp.items() if len(ids) > 1}
    print(
        f"crash: {len(after)} payments, {len(answered)} answered, {len(parked)} parked never charged, "
        f"{len(doubles)} double charge(s)"
    )
    assert not doubles  # exactly one charge per payment
