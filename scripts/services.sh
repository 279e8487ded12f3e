#!/usr/bin/env bash
# The one command for the local services and the cluster, under supervisord
# (scripts/stack/, docs/adr/0008-process-supervisor.md):
#
#   scripts/services.sh up | down | status [services|cluster]
#   scripts/services.sh cluster | cluster-ensure | cluster-down
#   scripts/services.sh start|stop|restart|kill NAME...   (mariadb, kafka, kafka-2, gateway-1, relay-1, ...)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHONPATH="$ROOT/scripts" exec "${VENV:-$ROOT/.venv}/bin/python" -m stack "$@"
