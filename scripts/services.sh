#!/usr/bin/env bash
# Installs and starts the real local services on loopback, idempotently.
#
#   scripts/services.sh up      install what is missing, start what is not running
#   scripts/services.sh down    stop exactly the processes this script started
#   scripts/services.sh status  one line per service
#
# A service whose port already answers is reused, not started twice (for
# example localstripe started by another checkout). Pid files and logs live
# under .services/ (git-ignored). The connection settings are in
# scripts/services.env.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SVC="$ROOT/.services"
LOGS="$SVC/logs"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
set -a
# shellcheck source=services.env
. "$ROOT/scripts/services.env"
set +a
cd "$ROOT"

MARIADB_PORT=3306
REDIS_PORT=6379
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
LOCALSTRIPE_PORT=8420
STRIPE_MOCK_PORT=12111
STRIPE_MOCK_VERSION=v0.203.0

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds name logfile
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    port_open "$1" && return 0
    sleep 0.25
  done
  [ -n "${4:-}" ] && [ -f "$4" ] && tail -n 30 "$4" >&2
  die "$3 did not open port $1 within $2 s"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- system packages ---------------------------------------------------------------
install_packages() {
  local missing=()
  command -v mariadbd >/dev/null || missing+=(mariadb-server)
  command -v mariadb >/dev/null || missing+=(mariadb-client)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  pkg-config --exists mysqlclient 2>/dev/null || missing+=(default-libmysqlclient-dev)
  # Debian's Chromium for the admin browser tests (Playwright cannot download its own here).
  command -v chromium >/dev/null || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root or install them"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$LOGS/apt.log" 2>&1 \
      || { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get install failed"; }
  fi
}

# --- MariaDB -------------------------------------------------------------------------
start_mariadb() {
  if port_open $MARIADB_PORT; then
    log "mariadb: reusing the server on port $MARIADB_PORT"
  else
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
      log "mariadb: initialising /var/lib/mysql"
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOGS/mariadb-install.log" 2>&1
    fi
    log "mariadb: starting"
    # Durability is relaxed (flush the log once a second) because this server
    # holds development and test data only.
    nohup mariadbd --user=mysql --bind-address=127.0.0.1 --port=$MARIADB_PORT \
      --socket=/run/mysqld/mysqld.sock --skip-name-resolve \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-size=256M \
      --max-connections=300 >"$LOGS/mariadb.log" 2>&1 &
    echo $! >"$SVC/mariadb.pid"
    wait_port $MARIADB_PORT 60 mariadb "$LOGS/mariadb.log"
  fi
  # The user may create and drop test_gateway* databases (pytest, xdist workers).
  mariadb --protocol=socket -uroot <<'SQL' || die "mariadb: could not create the database and user"
CREATE DATABASE IF NOT EXISTS gateway CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'gateway'@'127.0.0.1' IDENTIFIED BY 'gateway';
CREATE USER IF NOT EXISTS 'gateway'@'localhost' IDENTIFIED BY 'gateway';
GRANT ALL PRIVILEGES ON gateway.* TO 'gateway'@'127.0.0.1', 'gateway'@'localhost';
GRANT ALL PRIVILEGES ON `test\_gateway%`.* TO 'gateway'@'127.0.0.1', 'gateway'@'localhost';
SQL
}

# --- Redis ---------------------------------------------------------------------------
start_redis() {
  if port_open $REDIS_PORT; then
    log "redis: reusing the server on port $REDIS_PORT"
    return
  fi
  log "redis: starting"
  mkdir -p "$SVC/redis"
  # Nothing is saved to disk: no RDB snapshots, no append-only file.
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --save "" --appendonly no \
    --dir "$SVC/redis" --daemonize yes --pidfile "$SVC/redis.pid" --logfile "$LOGS/redis.log"
  wait_port $REDIS_PORT 20 redis "$LOGS/redis.log"
}

# --- Kafka (KRaft, single node) ------------------------------------------------------
kafka_fetch() {
  local libs="$SVC/kafka/libs" stamp pom_sum
  pom_sum="$(sha256sum "$ROOT/scripts/kafka/pom.xml" | cut -d' ' -f1)"
  stamp="$libs/.pom.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pom_sum" ]; then
    return
  fi
  log "kafka: fetching the broker's jars from Maven Central"
  rm -rf "$libs"
  mkdir -p "$libs"
  mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >"$LOGS/kafka-fetch.log" 2>&1 \
    || { tail -n 30 "$LOGS/kafka-fetch.log" >&2; die "kafka: mvn could not fetch the jars"; }
  echo "$pom_sum" >"$stamp"
}

kafka_configure() {
  local dir="$SVC/kafka"
  cat >"$dir/server.properties" <<EOF
# Written by scripts/services.sh: one node that is broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly (manage.py kafka_create_topics), never by accident.
auto.create.topics.enable=false
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
EOF
}

start_kafka() {
  local dir="$SVC/kafka" cp
  if port_open $KAFKA_PORT; then
    log "kafka: reusing the broker on port $KAFKA_PORT"
  else
    mkdir -p "$dir"
    kafka_fetch
    kafka_configure
    cp="$dir/libs/*"
    if [ ! -f "$dir/data/meta.properties" ]; then
      log "kafka: formatting storage"
      java -cp "$cp" kafka.tools.StorageTool format \
        -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" \
        -c "$dir/server.properties" >"$LOGS/kafka-format.log" 2>&1 \
        || { tail -n 20 "$LOGS/kafka-format.log" >&2; die "kafka: storage format failed"; }
    fi
    log "kafka: starting"
    nohup java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -cp "$cp" kafka.Kafka "$dir/server.properties" >"$LOGS/kafka.log" 2>&1 &
    echo $! >"$SVC/kafka.pid"
    wait_port $KAFKA_PORT 90 kafka "$LOGS/kafka.log"
  fi
  "$PY" "$ROOT/manage.py" kafka_create_topics --wait 60
}

# --- localstripe --------------------------------------------------------------------
# Our launcher (scripts/localstripe_loopback.py) adds Stripe's idempotency keys and
# PaymentIntent search to localstripe; the tests rely on both, so a server on the
# port that lacks them (a plain localstripe, an older launcher) is not reused.
LOCALSTRIPE_LAUNCHER_VERSION=3
localstripe_is_ours() {
  "$PY" - "$LOCALSTRIPE_PORT" "$LOCALSTRIPE_LAUNCHER_VERSION" <<'PY' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_config/launcher", timeout=3) as r:
    features = json.load(r)
if features.get("version") != int(sys.argv[2]):
    sys.exit(1)
# One that `make run` started stops when make run does: never adopt it.
sys.exit(3 if features.get("owner") == "run" else 0)
PY
}

start_localstripe() {
  if port_open $LOCALSTRIPE_PORT; then
    local ours=0
    localstripe_is_ours || ours=$?
    [ "$ours" = 3 ] \
      && die "port $LOCALSTRIPE_PORT is make run's localstripe, which stops with make run; stop make run (Ctrl-C), then run this again"
    if [ "$ours" = 0 ]; then
      log "localstripe: reusing the server on port $LOCALSTRIPE_PORT"
      return
    fi
    pid_alive "$SVC/localstripe.pid" \
      || die "port $LOCALSTRIPE_PORT answers, but not as scripts/localstripe_loopback.py v$LOCALSTRIPE_LAUNCHER_VERSION (no idempotency keys); stop that server"
    log "localstripe: restarting an older launcher"
    stop_pid localstripe "$SVC/localstripe.pid"
  fi
  log "localstripe: starting"
  # From scratch: its state is test data, and a long-lived store only slows its lists.
  nohup "$PY" "$ROOT/scripts/localstripe_loopback.py" --port $LOCALSTRIPE_PORT --from-scratch \
    >"$LOGS/localstripe.log" 2>&1 &
  echo $! >"$SVC/localstripe.pid"
  wait_port $LOCALSTRIPE_PORT 30 localstripe "$LOGS/localstripe.log"
}

# --- stripe-mock ----------------------------------------------------------------------
# Stripe's own mock (a Go module): it checks every request against Stripe's published
# OpenAPI spec. The contract test (stripe_integration/tests/test_stripe_contract.py)
# sends it every request shape the client can produce. Built once into .services/bin.
start_stripe_mock() {
  local bin="$SVC/bin/stripe-mock"
  if port_open $STRIPE_MOCK_PORT; then
    log "stripe-mock: reusing the server on port $STRIPE_MOCK_PORT"
    return
  fi
  if [ ! -x "$bin" ] || [ "$(cat "$SVC/bin/stripe-mock.version" 2>/dev/null)" != "$STRIPE_MOCK_VERSION" ]; then
    command -v go >/dev/null || die "stripe-mock needs Go (go install github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION)"
    log "stripe-mock: building $STRIPE_MOCK_VERSION (about a minute, once)"
    mkdir -p "$SVC/bin"
    GOBIN="$SVC/bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" >"$LOGS/stripe-mock-build.log" 2>&1 \
      || { tail -n 20 "$LOGS/stripe-mock-build.log" >&2; die "go install stripe-mock failed"; }
    echo "$STRIPE_MOCK_VERSION" >"$SVC/bin/stripe-mock.version"
  fi
  log "stripe-mock: starting"
  # stripe-mock logs every request's parameters ("Request data = …"), card numbers
  # included when the contract test tokenizes a test card: those lines never reach the log.
  nohup "$bin" -http-addr "127.0.0.1:$STRIPE_MOCK_PORT" -https-addr "127.0.0.1:$((STRIPE_MOCK_PORT + 1))" </dev/null \
    > >(exec grep --line-buffered -v '^Request data' >"$LOGS/stripe-mock.log" 2>&1) 2>&1 &
  echo $! >"$SVC/stripe-mock.pid"
  wait_port $STRIPE_MOCK_PORT 30 stripe-mock "$LOGS/stripe-mock.log"
}

# --- the gateway's own database and the Celery worker --------------------------------
prepare_database() {
  log "migrating the development database on MariaDB"
  "$PY" "$ROOT/manage.py" migrate --noinput -v0
  "$PY" "$ROOT/manage.py" stripe_local_bootstrap >/dev/null
}

start_worker() {
  if pid_alive "$SVC/celery-worker.pid"; then
    log "celery worker: running (pid $(cat "$SVC/celery-worker.pid"))"
  else
    log "celery worker: starting (queues celery, djstripe, webhooks)"
    nohup "$VENV/bin/celery" -A gateway worker --loglevel=INFO --concurrency=2 -Q celery,djstripe,webhooks \
      --hostname="services@%h" >"$LOGS/celery-worker.log" 2>&1 </dev/null &
    echo $! >"$SVC/celery-worker.pid"
  fi
  # The outbox relay on a worker of its own: an event never waits behind other work.
  if pid_alive "$SVC/celery-relay.pid"; then
    log "celery relay worker: running (pid $(cat "$SVC/celery-relay.pid"))"
  else
    log "celery relay worker: starting (queue events)"
    nohup "$VENV/bin/celery" -A gateway worker --loglevel=INFO --concurrency=1 -Q events \
      --hostname="services-relay@%h" >"$LOGS/celery-relay.log" 2>&1 </dev/null &
    echo $! >"$SVC/celery-relay.pid"
  fi
}

start_beat() {
  if pid_alive "$SVC/celery-beat.pid"; then
    log "celery beat: running (pid $(cat "$SVC/celery-beat.pid"))"
    return
  fi
  log "celery beat: starting (periodic reconciliation)"
  nohup "$VENV/bin/celery" -A gateway beat --loglevel=INFO \
    --schedule="$SVC/celerybeat-schedule" >"$LOGS/celery-beat.log" 2>&1 </dev/null &
  echo $! >"$SVC/celery-beat.pid"
}

install_mysql_driver() {
  local sum stamp="$VENV/.requirements-mysql"
  sum="$(sha256sum "$ROOT/requirements/lock/mysql.txt" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    return
  fi
  log "installing the MySQL driver (compiles mysqlclient)"
  "$VENV/bin/pip" install -q --require-hashes -r "$ROOT/requirements/lock/mysql.txt"
  echo "$sum" >"$stamp"
}

up() {
  mkdir -p "$LOGS"
  [ -x "$PY" ] || die "no virtualenv at $VENV: run 'make services', which creates it"
  install_packages
  # The slow, independent ones go on beside the rest: stripe-mock's build (about
  # a minute, once per checkout) and Kafka's jars, format and start.
  local stripe_mock_job kafka_job
  (start_stripe_mock) &
  stripe_mock_job=$!
  (start_kafka) &
  kafka_job=$!
  install_mysql_driver
  start_mariadb
  start_redis
  start_localstripe
  prepare_database
  wait "$stripe_mock_job" || die "stripe-mock did not start (see ${LOGS#"$ROOT"/}/stripe-mock.log)"
  wait "$kafka_job" || die "kafka did not start (see ${LOGS#"$ROOT"/}/kafka.log)"
  start_worker
  start_beat
  log "all services are up"
  status
}

stop_pid() { # name pidfile
  local pid
  [ -f "$2" ] || return 0
  pid="$(cat "$2")"
  if kill -0 "$pid" 2>/dev/null; then
    log "$1: stopping pid $pid"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$2"
}

down() {
  # The cluster (scripts/cluster.sh) runs on these services: it goes first.
  if [ -d "$SVC/cluster" ]; then "$ROOT/scripts/cluster.sh" down; fi
  stop_pid "celery beat" "$SVC/celery-beat.pid"
  stop_pid "celery worker" "$SVC/celery-worker.pid"
  stop_pid "celery relay worker" "$SVC/celery-relay.pid"
  stop_pid localstripe "$SVC/localstripe.pid"
  stop_pid stripe-mock "$SVC/stripe-mock.pid"
  stop_pid kafka "$SVC/kafka.pid"
  stop_pid redis "$SVC/redis.pid"
  stop_pid mariadb "$SVC/mariadb.pid"
}

status() {
  local name port
  for pair in mariadb:$MARIADB_PORT redis:$REDIS_PORT kafka:$KAFKA_PORT localstripe:$LOCALSTRIPE_PORT stripe-mock:$STRIPE_MOCK_PORT; do
    name="${pair%%:*}"
    port="${pair##*:}"
    if port_open "$port"; then echo "  $name	up	127.0.0.1:$port"; else echo "  $name	down	127.0.0.1:$port"; fi
  done
  if pid_alive "$SVC/celery-worker.pid"; then echo "  celery	up	pid $(cat "$SVC/celery-worker.pid")"; else echo "  celery	down"; fi
  if pid_alive "$SVC/celery-relay.pid"; then echo "  relay	up	pid $(cat "$SVC/celery-relay.pid")"; else echo "  relay	down"; fi
  if pid_alive "$SVC/celery-beat.pid"; then echo "  beat	up	pid $(cat "$SVC/celery-beat.pid")"; else echo "  beat	down"; fi
}

# For the fault tests: stop and start the Kafka broker this script started.
# (The same for Redis and MariaDB.)
stop_service() {
  local name=$1 port=$2
  [ -f "$SVC/$name.pid" ] || die "$name was not started by this checkout (no $SVC/$name.pid)"
  stop_pid "$name" "$SVC/$name.pid"
  for _ in $(seq 1 80); do port_open "$port" || return 0; sleep 0.25; done
  die "$name still answers on $port"
}

case "${1:-up}" in
  up) up ;;
  kafka-stop) stop_service kafka $KAFKA_PORT ;;
  kafka-start) mkdir -p "$LOGS"; start_kafka ;;
  kafka-fetch) mkdir -p "$LOGS" "$SVC/kafka"; kafka_fetch ;;
  redis-stop) stop_service redis $REDIS_PORT ;;
  redis-start) mkdir -p "$LOGS"; start_redis ;;
  mariadb-stop) stop_service mariadb $MARIADB_PORT ;;
  mariadb-start) mkdir -p "$LOGS"; start_mariadb ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status|kafka-stop|kafka-start|kafka-fetch|redis-stop|redis-start|mariadb-stop|mariadb-start" ;;
esac
