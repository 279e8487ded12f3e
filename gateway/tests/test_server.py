"""The server's settings (gateway/server.py) and its Prometheus directory."""

import os

import pytest

from gateway.core.metrics import metrics_dead_workers_forget
from gateway.server import ServerConfigError, prometheus_dir_reset, server_options

pytestmark = pytest.mark.fast


def test_defaults_are_production_s():
    options = server_options({})

    assert (options["address"], options["port"]) == ("127.0.0.1", 8085)
    assert (options["workers"], options["blocking_threads"]) == (2, 4)
    assert options["workers_kill_timeout"] == 30  # the seed's graceful shutdown
    assert options["interface"] == "wsgi" and options["target"] == "gateway.wsgi:application"
    assert options["respawn_failed_workers"] is True
    assert options["log_access"] is False  # the middleware logs each request with its id


def test_settings_from_the_environment():
    options = server_options(
        {"SERVER_HOST": "0.0.0.0", "SERVER_PORT": "9000", "WEB_WORKERS": "3", "WEB_THREADS": "8"}  # noqa: S104
    )
    assert (options["address"], options["port"], options["workers"], options["blocking_threads"]) == (
        "0.0.0.0",  # noqa: S104
        9000,
        3,
        8,
    )


@pytest.mark.parametrize(
    ("name", "value"), [("WEB_WORKERS", "two"), ("WEB_THREADS", "0"), ("SERVER_PORT", "-1")]
)
def test_a_bad_number_is_refused_with_its_name(name, value):
    with pytest.raises(ServerConfigError, match=name):
        server_options({name: value})


def test_a_gunicorn_variable_left_in_a_deployment_is_named_not_ignored():
    with pytest.raises(ServerConfigError) as refused:
        server_options({"GUNICORN_WORKERS": "4", "GUNICORN_TIMEOUT": "60"})

    assert "GUNICORN_WORKERS (now WEB_WORKERS)" in str(refused.value)
    assert "GUNICORN_TIMEOUT (no longer used)" in str(refused.value)


def test_the_prometheus_directory_is_emptied_when_the_server_starts(tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"x")
    (tmp_path / "gauge_livesum_9.db").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("not ours")
    (tmp_path / "other.db").write_text("not prometheus_client's")

    prometheus_dir_reset({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})

    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "other.db"]


def _dead_pid() -> int:
    pid = 4_000_000  # above Linux's pid_max default range
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_a_starting_worker_drops_the_live_gauges_of_dead_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    dead, alive = _dead_pid(), os.getppid()
    for name in (f"gauge_livesum_{dead}.db", f"gauge_livesum_{alive}.db", f"counter_{dead}.db"):
        (tmp_path / name).write_bytes(b"")

    metrics_dead_workers_forget()

    # A dead worker's live gauges stop counting; its counters still do (they
    # are totals), as prometheus_client's mark_process_dead does under gunicorn.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"gauge_livesum_{alive}.db", f"counter_{dead}.db"]
    )
