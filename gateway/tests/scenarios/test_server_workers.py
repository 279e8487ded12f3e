"""The server's workers (gateway/server.py, Granian) with Prometheus's
multiprocess files, as the image runs them: a worker killed mid-service is
replaced, the replacement drops the dead worker's live gauges, and /metrics
still sums every worker."""

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from conftest import server_start


def _worker_pids(directory: Path) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("*_*.db")}


@pytest.mark.reliability(
    "Faults", "A killed server worker is replaced; its live Prometheus gauges are dropped"
)
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_replaced_and_its_live_gauges_dropped(tmp_path):
    stale = tmp_path / "gauge_livesum_1.db"  # from an earlier run
    stale.write_bytes(b"")
    server, base = server_start(WEB_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    try:
        assert not stale.exists()  # the server emptied the directory as it started
        for _ in range(20):  # some requests, so that the workers write their files
            requests.get(f"{base}/api/v1/payments", timeout=5)
        before = _worker_pids(tmp_path)
        assert before, "no worker wrote a metrics file"
        victim = min(before)
        # What a live gauge of the victim would look like (prometheus_client's name).
        (tmp_path / f"gauge_livesum_{victim}.db").write_bytes(b"")
        os.kill(victim, signal.SIGKILL)

        deadline = time.monotonic() + 20
        while (tmp_path / f"gauge_livesum_{victim}.db").exists():
            assert time.monotonic() < deadline, "the dead worker's live gauge is still there"
            time.sleep(0.2)
        answers = [requests.get(f"{base}/health", timeout=5).status_code for _ in range(10)]
        metrics = requests.get(f"{base}/metrics", timeout=5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)

    assert answers == [200] * 10  # served by the survivor and the replacement
    assert metrics.status_code == 200
    assert "django_http_requests_total_by_method_total" in metrics.text
