#!/usr/bin/env bash
# The gateway as a cluster on one machine, on loopback, idempotently (issue #17):
#
#   scripts/cluster.sh up       start what is not running (after `make services`)
#   scripts/cluster.sh down     stop what this script started
#   scripts/cluster.sh status   one line per process
#   scripts/cluster.sh kill X   SIGKILL one process (kafka-2, gateway-1, relay-1, ...): for chaos runs
#   scripts/cluster.sh start X  start that one process again
#   scripts/cluster.sh ensure   start whatever is not running (no migrate, no topics)
#
# - Kafka: 3 nodes in KRaft mode, each broker and controller (a quorum of 3),
#   topics with replication factor 3 and min.insync.replicas=2;
# - 3 gateway processes (gunicorn, production settings) behind HAProxy, which
#   health-checks /health/ready every second and takes a failed one out at once;
# - Celery: two worker nodes, each one main worker (-Q celery,djstripe,webhooks) and one
#   relay worker (-Q events), and exactly one beat;
# - MariaDB, Redis and localstripe of `make services`, with a database
#   (gateway_cluster) and Redis databases of the cluster's own.
#
# Pid files, logs and the generated configuration live in .services/cluster/;
# the endpoints are written to .services/cluster/endpoints.env.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.services/cluster"
LOGS="$DIR/logs"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
cd "$ROOT"

GATEWAY_PORTS=(18081 18082 18083)
HAPROXY_PORT=18085
KAFKA_PORTS=(19092 19093 19094)
KAFKA_CONTROLLER_PORTS=(19192 19193 19194)
CLUSTER_DB=gateway_cluster

log() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_port() { # port seconds name logfile
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    port_open "$1" && return 0
    sleep 0.25
  done
  [ -f "${4:-}" ] && tail -n 30 "$4" >&2
  die "$3 did not open port $1 within $2 s"
}

kafka_list() {
  local out="" port
  for port in "${KAFKA_PORTS[@]}"; do out+="${out:+,}127.0.0.1:$port"; done
  echo "$out"
}

# --- the environment of every gateway, worker and beat process ------------------------
write_env() {
  mkdir -p "$DIR" "$LOGS"
  if [ ! -f "$DIR/secrets.env" ]; then
    umask 077
    {
      echo "DJANGO_SECRET_KEY=cluster-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "OTP_SECRET=cluster-otp-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } >"$DIR/secrets.env"
  fi
  # Production settings (DJANGO_DEBUG off). Nothing here assumes one host: every
  # address is a setting, and the same variables run a multi-host deployment.
  cat >"$DIR/cluster.env" <<EOF
DJANGO_DEBUG=false
DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
SECURE_SSL_REDIRECT=false
# Production refuses the console e-mail backend; the cluster sends no one-time codes.
EMAIL_URL=smtp://127.0.0.1:1025
DATABASE_URL=mysql://gateway:gateway@127.0.0.1:3306/$CLUSTER_DB
REDIS_URL=redis://127.0.0.1:6379/10
CELERY_BROKER_URL=redis://127.0.0.1:6379/11
KAFKA_BROKERS=$(kafka_list)
KAFKA_REPLICATION_FACTOR=3
KAFKA_MIN_INSYNC_REPLICAS=2
STRIPE_API_BASE=http://127.0.0.1:8420
STRIPE_SECRET_KEY=sk_test_localstripeClusterKey00000000000
STRIPE_WEBHOOK_SECRET=whsec_localcluster
LOCALSTRIPE_QUIRKS=true
# A claim left by a killed process is taken over by the client's retry after
# this long; it outlasts the slowest request (5 s PSP timeout, one retry).
STRIPE_TIMEOUT_SECONDS=5
STRIPE_MAX_NETWORK_RETRIES=1
IDEMPOTENCY_LEASE_SECONDS=15
GUNICORN_WORKERS=1
GUNICORN_THREADS=4
LOG_LEVEL=WARNING
# Load tests from one address and one key: the limits would cap the test itself.
RATE_LIMIT_DEFAULT=100000/m
EOF
  cat >"$DIR/endpoints.env" <<EOF
# Written by scripts/cluster.sh up.
GATEWAY_URL=http://127.0.0.1:$HAPROXY_PORT
GATEWAY_NODES=$(printf 'http://127.0.0.1:%s,' "${GATEWAY_PORTS[@]}" | sed 's/,$//')
KAFKA_BROKERS=$(kafka_list)
DATABASE_URL=mysql://gateway:gateway@127.0.0.1:3306/$CLUSTER_DB
CELERY_BROKER_URL=redis://127.0.0.1:6379/11
EOF
}

load_env() {
  set -a
  # shellcheck source=/dev/null
  . "$DIR/secrets.env"
  # shellcheck source=/dev/null
  . "$DIR/cluster.env"
  set +a
}

# --- Kafka: three KRaft nodes --------------------------------------------------------
kafka_configure() { # n (1..3)
  local n=$1 voters="" i
  for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:${KAFKA_CONTROLLER_PORTS[$((i - 1))]}"; done
  mkdir -p "$DIR/kafka-$n"
  cat >"$DIR/kafka-$n/server.properties" <<EOF
# Written by scripts/cluster.sh: node $n of 3, broker and controller.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORTS[$((n - 1))]},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORTS[$((n - 1))]}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORTS[$((n - 1))]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/kafka-$n/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
# A killed broker is declared dead, and its partitions get new leaders, after
# 3 s instead of 9: the producer's sends to it wait that long.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
unclean.leader.election.enable=false
auto.create.topics.enable=false
EOF
  cat >"$DIR/kafka-$n/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
EOF
}

start_kafka_node() { # n
  local n=$1 cp="$ROOT/.services/kafka/libs/*" port
  port=${KAFKA_PORTS[$((n - 1))]}
  if pid_alive "$DIR/kafka-$n.pid"; then
    log "kafka-$n: running (pid $(cat "$DIR/kafka-$n.pid"))"
    return
  fi
  port_open "$port" && die "port $port is taken by a process this script did not start"
  kafka_configure "$n"
  if [ ! -f "$DIR/kafka-$n/data/meta.properties" ]; then
    java -cp "$cp" kafka.tools.StorageTool format -t "$(cat "$DIR/kafka-cluster-id")" \
      -c "$DIR/kafka-$n/server.properties" >"$LOGS/kafka-$n-format.log" 2>&1 \
      || { tail -n 20 "$LOGS/kafka-$n-format.log" >&2; die "kafka-$n: storage format failed"; }
  fi
  log "kafka-$n: starting on $port"
  nohup java -Xms128m -Xmx384m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIR/kafka-$n/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$DIR/kafka-$n/server.properties" >"$LOGS/kafka-$n.log" 2>&1 </dev/null &
  echo $! >"$DIR/kafka-$n.pid"
}

start_kafka() {
  # The jars of make services' Kafka (fetched from Maven Central once).
  [ -d "$ROOT/.services/kafka/libs" ] || "$ROOT/scripts/services.sh" kafka-fetch
  if [ ! -f "$DIR/kafka-cluster-id" ]; then
    java -cp "$ROOT/.services/kafka/libs/*" kafka.tools.StorageTool random-uuid >"$DIR/kafka-cluster-id"
  fi
  local n
  for n in 1 2 3; do start_kafka_node "$n"; done
  for n in 1 2 3; do wait_port "${KAFKA_PORTS[$((n - 1))]}" 120 "kafka-$n" "$LOGS/kafka-$n.log"; done
}

# --- the gateway's database, topics, processes --------------------------------------------
prepare() {
  mariadb --protocol=socket -uroot <<SQL || die "mariadb: could not create $CLUSTER_DB"
CREATE DATABASE IF NOT EXISTS $CLUSTER_DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON $CLUSTER_DB.* TO 'gateway'@'127.0.0.1', 'gateway'@'localhost';
SQL
  log "migrating $CLUSTER_DB"
  "$PY" manage.py migrate --noinput -v0
  "$PY" manage.py stripe_local_bootstrap >/dev/null
  "$PY" manage.py kafka_create_topics --wait 90
}

start_process() { # name logfile command...
  local name=$1 logfile=$2
  shift 2
  if pid_alive "$DIR/$name.pid"; then
    log "$name: running (pid $(cat "$DIR/$name.pid"))"
    return
  fi
  log "$name: starting"
  nohup "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

start_gateways() {
  local i port
  for i in 1 2 3; do
    port=${GATEWAY_PORTS[$((i - 1))]}
    SERVER_PORT=$port start_process "gateway-$i" "$LOGS/gateway-$i.log" \
      "$VENV/bin/gunicorn" -c gateway/gunicorn.conf.py gateway.wsgi
  done
  for i in 1 2 3; do wait_port "${GATEWAY_PORTS[$((i - 1))]}" 60 "gateway-$i" "$LOGS/gateway-$i.log"; done
}

start_celery() {
  local i
  for i in 1 2; do
    start_process "worker-$i" "$LOGS/worker-$i.log" "$VENV/bin/celery" -A gateway worker \
      -Q celery,djstripe,webhooks --concurrency=1 --loglevel=WARNING --hostname="cluster-worker-$i@%h"
    start_process "relay-$i" "$LOGS/relay-$i.log" "$VENV/bin/celery" -A gateway worker \
      -Q events --concurrency=1 --loglevel=WARNING --hostname="cluster-relay-$i@%h"
  done
  start_process beat "$LOGS/beat.log" "$VENV/bin/celery" -A gateway beat --loglevel=WARNING \
    --schedule="$DIR/celerybeat-schedule"
}

start_haproxy() {
  command -v haproxy >/dev/null || {
    [ "$(id -u)" = 0 ] || die "haproxy is missing; run as root or install it"
    log "installing haproxy (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >"$LOGS/apt.log" 2>&1 \
      || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get install haproxy failed"; }
  }
  local i
  {
    cat <<EOF
# Written by scripts/cluster.sh.
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A connection refused by a dead process is tried on another: nothing was sent yet.
    retries 3
    option redispatch
frontend gateway
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk
    http-check send meth GET uri /health/ready hdr Host 127.0.0.1
    http-check expect status 200
    # Checked every second; out after one failure (or one refused connection), back after two passes.
    default-server inter 1s fastinter 500ms fall 1 rise 2 observe layer4 error-limit 1 on-error mark-down
EOF
    for i in 1 2 3; do echo "    server gateway-$i 127.0.0.1:${GATEWAY_PORTS[$((i - 1))]} check"; done
  } >"$DIR/haproxy.cfg"
  if pid_alive "$DIR/haproxy.pid"; then
    log "haproxy: running (pid $(cat "$DIR/haproxy.pid"))"
    return
  fi
  haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy: invalid configuration"
  log "haproxy: starting on $HAPROXY_PORT"
  haproxy -D -f "$DIR/haproxy.cfg" -p "$DIR/haproxy.pid" >"$LOGS/haproxy.log" 2>&1
  wait_port $HAPROXY_PORT 20 haproxy "$LOGS/haproxy.log"
}

wait_ready() {
  local i
  for ((i = 0; i < 120; i++)); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$HAPROXY_PORT/health/ready"; then
      log "ready: http://127.0.0.1:$HAPROXY_PORT (endpoints in ${DIR#"$ROOT"/}/endpoints.env)"
      return 0
    fi
    sleep 0.5
  done
  die "the gateway is not ready behind haproxy after 60 s (logs in $LOGS)"
}

up() {
  [ -x "$PY" ] || die "no virtualenv: run 'make services' first"
  port_open 3306 && port_open 6379 && port_open 8420 || die "MariaDB, Redis and localstripe must run: 'make services'"
  write_env
  load_env
  start_kafka
  prepare
  start_gateways
  start_celery
  start_haproxy
  wait_ready
}

ALL=(haproxy beat relay-1 relay-2 worker-1 worker-2 gateway-1 gateway-2 gateway-3 kafka-1 kafka-2 kafka-3)

stop_pid() { # name
  local pid file="$DIR/$1.pid" i
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "$1: stopping (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 160; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$file"
}

down() {
  local name
  for name in "${ALL[@]}"; do stop_pid "$name"; done
}

status() {
  local name
  for name in "${ALL[@]}"; do
    if pid_alive "$DIR/$name.pid"; then echo "  $name	up	pid $(cat "$DIR/$name.pid")"; else echo "  $name	down"; fi
  done
}

kill_one() { # name
  local name=$1
  pid_alive "$DIR/$name.pid" || die "$name is not running"
  log "$name: SIGKILL (pid $(cat "$DIR/$name.pid"))"
  # The whole process group of a gunicorn or prefork worker goes with it.
  pkill -9 -P "$(cat "$DIR/$name.pid")" 2>/dev/null || true
  kill -9 "$(cat "$DIR/$name.pid")"
  rm -f "$DIR/$name.pid"
}

ensure() { # start whatever is not running, without preparing the database again
  write_env
  load_env
  start_kafka
  start_gateways
  start_celery
  start_haproxy
  wait_ready
}

start_one() { # name: start one process again (after a kill), and nothing else
  write_env
  load_env
  case "$1" in
    kafka-[123]) start_kafka_node "${1#kafka-}"; wait_port "${KAFKA_PORTS[$((${1#kafka-} - 1))]}" 120 "$1" "$LOGS/$1.log" ;;
    gateway-[123]) start_gateways ;;
    worker-[12] | relay-[12] | beat) start_celery ;;
    haproxy) start_haproxy ;;
    *) die "unknown process $1" ;;
  esac
}

case "${1:-up}" in
  up) up ;;
  start) start_one "${2:?name}" ;;
  ensure) ensure ;;
  down) down ;;
  status) status ;;
  kill) kill_one "${2:?name}" ;;
  *) die "usage: $0 up|down|status|ensure|kill NAME|start NAME" ;;
esac
