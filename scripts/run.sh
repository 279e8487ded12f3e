#!/usr/bin/env bash
# `make run`: the gateway on the embedded defaults (SQLite, local-memory cache,
# eager Celery, Kafka off unless KAFKA_BROKERS is set, localstripe as the PSP),
# served by Granian (gateway/server.py) on 127.0.0.1:$SERVER_PORT (8085). Variables already set in
# the environment win. Ctrl-C stops everything this script started.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
RUN_DIR="${RUN_DIR:-$ROOT/.services/run}"
mkdir -p "$RUN_DIR"
export SERVER_PORT="${SERVER_PORT:-8085}"
# Development mode, explicitly: the settings default to production.
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
# On the embedded SQLite, no dj-stripe mirror: its 62 tables took ~100 s of a
# first start to migrate, and make run mirrors nothing unless asked. With
# DJSTRIPE_MIRROR=lazy (or a MariaDB DATABASE_URL) make run has it.
case "${DATABASE_URL:-sqlite:}" in
  sqlite:*) export DJSTRIPE_MIRROR="${DJSTRIPE_MIRROR:-off}" ;;
esac
# Without Redis the cache (OTP codes and counters) is local to one process:
# one server worker (with threads) keeps it shared.
if [ -z "${REDIS_URL:-}" ]; then export WEB_WORKERS="${WEB_WORKERS:-1}"; fi
# The same local-memory cache keeps API clients per process: a key revoked or
# rotated by `manage.py` in another process stops working within 30 s, not 300.
if [ -z "${REDIS_URL:-}" ]; then export API_CLIENT_CACHE_SECONDS="${API_CLIENT_CACHE_SECONDS:-30}"; fi
# Without a broker, Celery tasks (the dj-stripe mirror, OTP e-mails, webhooks
# to merchants) run in this process: on a background thread, after the answer, not
# inside the request.
if [ -z "${CELERY_BROKER_URL:-}" ] && [ -z "${REDIS_URL:-}" ]; then
  export EAGER_TASKS_IN_THREAD="${EAGER_TASKS_IN_THREAD:-true}"
fi

log() { printf '[run] %s\n' "$*"; }

# What this run uses, for `make manage ARGS=…` (scripts/manage.sh): every setting
# named in .env.example, set as here or unset as here. Commands then reach the
# same database, PSP and cache as the server. Git-ignored (.services/), readable by us only.
write_run_env() {
  (umask 077; "$PY" - "$ROOT/.env.example" >"$RUN_DIR/env" <<'PY'
import os, re, shlex, sys
names = re.findall(r"^([A-Z][A-Z0-9_]*)=", open(sys.argv[1]).read(), re.M)
for name in names:
    if name in os.environ:
        print(f"export {name}={shlex.quote(os.environ[name])}")
    else:  # unset for make run: its default, whatever the command's shell has
        print(f"unset {name}")
PY
  )
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

children=()
cleanup() {
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait "${children[@]}" 2>/dev/null || true  # the server drains its requests in flight
  rm -f "$RUN_DIR/env"  # make manage falls back to the plain environment
  # Our webhook registration at the stand-in (stripe_integration.services.localstripe_webhook_id).
  if [ -n "${STRIPE_BASE:-}" ] && [ "$STRIPE_BASE" != "-" ]; then
    curl -s -m 2 -X DELETE "$STRIPE_BASE/_config/webhooks/we_localgateway_$SERVER_PORT" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
write_run_env

# Ask the settings (not a copy of their rules) which PSP and broker they use.
read -r STRIPE_BASE BROKER KAFKA < <("$PY" - <<'PY'
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
django.setup()
from django.conf import settings
print(settings.STRIPE_API_BASE or "-",
      "-" if settings.CELERY_TASK_ALWAYS_EAGER else "broker",
      ",".join(settings.KAFKA_BROKERS) or "-")
PY
)

if [ "$STRIPE_BASE" != "-" ]; then
  hostport="${STRIPE_BASE#*://}"; hostport="${hostport%%/*}"
  host="${hostport%%:*}"; port="${hostport##*:}"
  if port_open "$host" "$port"; then
    log "localstripe: reusing $STRIPE_BASE"
  elif [ "$host" = "127.0.0.1" ] || [ "$host" = "localhost" ]; then
    log "localstripe: starting on $host:$port"
    # From scratch, in memory, as make services does: no pickle shared with other instances.
    "$PY" scripts/localstripe_loopback.py --port "$port" --from-scratch --owner run >"$RUN_DIR/localstripe.log" 2>&1 &
    children+=($!)
    for _ in $(seq 1 120); do port_open "$host" "$port" && break; sleep 0.25; done
    port_open "$host" "$port" || { cat "$RUN_DIR/localstripe.log" >&2; exit 1; }
  else
    log "WARNING: STRIPE_API_BASE=$STRIPE_BASE does not answer"
  fi
fi

log "migrating the database"
"$PY" manage.py migrate --noinput -v0
"$PY" manage.py collectstatic --noinput -v0
if [ "$STRIPE_BASE" != "-" ]; then
  "$PY" manage.py stripe_local_bootstrap \
    --webhook-url "http://127.0.0.1:$SERVER_PORT/api/v1/stripe/webhook" >/dev/null
fi
if [ "$KAFKA" != "-" ]; then
  "$PY" manage.py kafka_create_topics --wait 10 || log "WARNING: Kafka at $KAFKA is not reachable; events wait in the outbox"
fi
DEMO_KEY="$("$PY" manage.py create_api_client demo --rotate | tail -n 1)"


cat <<MSG

  Payment gateway on http://127.0.0.1:$SERVER_PORT   (Ctrl-C stops it)
  PSP: ${STRIPE_BASE/#-/real Stripe}   Celery: ${BROKER/#-/eager (in-process)}   Kafka: ${KAFKA/#-/off (events wait in the outbox)}

  Demo API key (a new one each start; the previous one is revoked):
    $DEMO_KEY

  Try:  curl http://127.0.0.1:$SERVER_PORT/health
        curl -H "Authorization: Bearer $DEMO_KEY" http://127.0.0.1:$SERVER_PORT/api/v1/payments
  Docs: http://127.0.0.1:$SERVER_PORT/api/docs/

MSG

# The processes write to this console themselves (each line names its logger).
# A runner that relays every line (honcho, before issue #28) cost a quarter of
# a GET's CPU: as much as the request's own access line, again, in another process.
export PYTHONUNBUFFERED=1
"$PY" -m gateway.server &
children+=($!)
# The outbox relay, as in production; without Redis it polls (OUTBOX_RELAY_POLL_SECONDS).
"$PY" manage.py outbox_relay &
children+=($!)
if [ "$BROKER" != "-" ]; then
  "$VENV/bin/celery" -A gateway worker --loglevel=INFO --concurrency=2 &
  children+=($!)
  "$VENV/bin/celery" -A gateway beat --loglevel=INFO --schedule="$RUN_DIR/celerybeat-schedule" &
  children+=($!)
else
  # Eager Celery has no beat: this process runs the beat's schedule (merchant
  # webhooks' retries, payments' expiry, the outbox sweeper, OTP expiry).
  "$PY" manage.py run_periodic &
  children+=($!)
fi
# The first process to stop stops the others (the EXIT trap), with its status.
status=0
wait -n || status=$?
log "a process stopped (status $status); stopping the others"
exit "$status"
