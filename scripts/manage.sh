#!/usr/bin/env bash
# `make manage ARGS="refund_payment pay_… --amount 10.00"`: manage.py with the
# settings the running `make run` uses (.services/run/env, written by scripts/run.sh
# and removed when it stops),
# so that a command reaches the same database, PSP and cache as the server.
# Without a make run behind it, manage.py reads the environment and .env as usual.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUN_DIR="${RUN_DIR:-$ROOT/.services/run}"
if [ -f "$RUN_DIR/env" ]; then
  # shellcheck disable=SC1091
  . "$RUN_DIR/env"
  echo "[manage] with the settings of the running make run ($RUN_DIR/env)" >&2
fi
exec "${VENV:-$ROOT/.venv}/bin/python" manage.py "$@"
