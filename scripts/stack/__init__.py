"""The local services (`make services`) and the cluster (`make cluster`) under one
supervisord (docs/adr/0008-process-supervisor.md).

  programs.py  the one definition of every process: command, port, log, hooks
  prepare.py   what a start needs first: packages, jars, binaries, data dirs, grants
  control.py   supervisord itself, and start / stop / kill / status of a program
  __main__.py  the command line (scripts/services.sh)
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SVC = ROOT / ".services"
LOGS = SVC / "logs"
CLUSTER = SVC / "cluster"
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
PY = str(VENV / "bin" / "python")


def log(message: str) -> None:
    print(f"[services] {message}", flush=True)


def die(message: str) -> None:
    sys.exit(f"[services] ERROR: {message}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_env(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file (scripts/services.env, .services/cluster/*.env)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def services_env() -> dict[str, str]:
    return read_env(ROOT / "scripts" / "services.env")


def cluster_relays() -> int:
    """How many outbox relays the cluster runs, one per shard: CLUSTER_RELAYS (2)."""
    relays = int(os.environ.get("CLUSTER_RELAYS", "2"))
    if relays not in (1, 2, 4, 8):
        die(f"CLUSTER_RELAYS={relays}: 1, 2, 4 or 8")
    return relays


def cluster_env() -> dict[str, str]:
    """What every gateway, worker, relay and beat of the cluster runs with; the
    outbox's shards are its relays (CLUSTER_RELAYS)."""
    env = {**read_env(CLUSTER / "secrets.env"), **read_env(CLUSTER / "cluster.env")}
    return {**env, "OUTBOX_SHARDS": str(cluster_relays())}
