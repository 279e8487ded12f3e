"""The cluster loses nothing and doubles nothing when a Kafka broker and a
gateway process are SIGKILLed in the middle of a burst (issue #17).

The short version of `make chaos`, run by scripts/chaos.py --short against
`make cluster` (3 KRaft brokers with replication factor 3 and
min.insync.replicas=2, 3 gateway servers behind HAProxy, two worker nodes, one beat),
which this test starts when it is not running. Real processes on loopback;
nothing is mocked.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, service_unavailable

ENDPOINTS = ROOT / ".services" / "cluster" / "endpoints.env"


def _cluster_fully_up() -> bool:
    status = subprocess.run(
        ["bash", "scripts/services.sh", "status", "cluster"], cwd=ROOT, capture_output=True, text=True
    )
    return status.returncode == 0 and bool(status.stdout.strip()) and "\tdown" not in status.stdout


@pytest.fixture
def cluster():
    """The cluster as `make cluster` starts it (scripts/services.sh cluster is
    idempotent): left running when it already was (a developer's), else stopped
    after this test, so that its processes take no core from the rest of `make test`."""
    was_up = _cluster_fully_up()
    up = subprocess.run(
        ["bash", "scripts/services.sh", "cluster"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if up.returncode != 0 or not ENDPOINTS.exists():
        service_unavailable("The cluster", f"services.sh cluster failed: {(up.stdout + up.stderr)[-2000:]}")
    yield
    if not was_up:
        # Stopped beside the rest of the suite: its processes' graceful stops
        # take about a minute of waiting, not of work.
        subprocess.Popen(
            ["bash", "scripts/services.sh", "cluster-down"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def test_a_broker_and_a_gateway_killed_mid_burst_lose_nothing_and_double_nothing(tmp_path, cluster):
    out = tmp_path / "chaos.json"
    run = subprocess.run(
        [
            sys.executable,
            "scripts/chaos.py",
            "--short",
            "--seconds",
            "20",
            "--clients",
            "6",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])  # non-zero: a check failed
    result = json.loads(out.read_text())
    report = run.stdout[-4000:]

    assert [(f["action"], f["target"]) for f in result["faults"]][:2] == [
        ("kill", "kafka-2"),
        ("kill", "gateway-2"),
    ]
    assert result["fault_errors"] == [], "every fault was made and undone as planned"
    assert [(f["action"], f["target"]) for f in result["faults"]][2:] == [
        ("start", "kafka-2"),
        ("start", "gateway-2"),
    ]
    assert result["payments_answered"] >= 20 and result["refunds_answered"] >= 5, report
    assert result["unanswered"] == 0, report
    assert result["non_2xx_final"] == [], report
    assert result["missing_payments"] == 0, report
    assert result["doubled_payments"] == 0, report
    assert result["payments_not_final"] == 0, report
    assert result["psp_not_exactly_one_intent"] == 0, report
    assert result["refunds_missing"] == result["refunds_not_matching_psp"] == 0, report
    assert result["events_expected"] >= 2 * result["payments_answered"], report
    assert result["events_missing_in_kafka"] == 0, report
    assert result["outbox_left"] == 0, report
    consumed = result["events_consume"]
    # At-least-once on the topic, exactly once out of events_consume.
    assert consumed["delivered"] == consumed["distinct"] == consumed["expected"] > 0, report
