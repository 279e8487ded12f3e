#!/usr/bin/env bash
# `make manage ARGS="refund_payment pay_… --amount 10.00"`: manage.py with the
# settings the last `make run` used (.services/run/env, written by scripts/run.sh),
# so that a command reaches the same database, PSP and cache as the server.
# Without a make run behind it, manage.py reads the environment and .env as usual.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ -f .services/run/env ]; then
  # shellcheck disable=SC1091
  . .services/run/env
  echo "[manage] with make run's settings (.services/run/env)" >&2
fi
exec "${VENV:-$ROOT/.venv}/bin/python" manage.py "$@"
