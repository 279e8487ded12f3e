"""What a program needs before it starts (packages, jars, a binary, a data dir)
and what the gateway needs once it answers (grants, migrations, topics). Each
step is idempotent: it does nothing when its result is already there."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess

from stack import CLUSTER, LOGS, PY, ROOT, SVC, VENV, cluster_env, die, log, services_env

STRIPE_MOCK_VERSION = "v0.203.0"
# Jaeger v2 (its Go module keeps v1 tags), pinned with its sums in scripts/stack/jaeger/go.mod.
JAEGER_VERSION = "v1.75.0"
KAFKA_LIBS = SVC / "kafka" / "libs"
CLUSTER_DB = "gateway_cluster"
KAFKA_CLUSTER_PORTS = {1: (19092, 19192), 2: (19093, 19193), 3: (19094, 19194)}
GATEWAY_PORTS = {1: 18081, 2: 18082, 3: 18083}
HAPROXY_PORT = 18085


def run(command: list[str], logname: str, what: str, env: dict | None = None) -> str:
    """Runs a step with its output in .services/logs/<logname>; dies with its tail."""
    LOGS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    (LOGS / logname).write_text(result.stdout + result.stderr)
    if result.returncode:
        die(f"{what} failed:\n" + "\n".join((result.stdout + result.stderr).splitlines()[-20:]))
    return result.stdout


def apt_install(packages: list[str]) -> None:
    if not packages:
        return
    if os.geteuid() != 0:
        die(f"missing packages ({' '.join(packages)}); run as root or install them")
    log(f"installing {' '.join(packages)}")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-qq", *packages], "apt.log", "apt-get install", env)


def install_packages() -> None:
    commands = {
        "mariadbd": "mariadb-server",
        "mariadb": "mariadb-client",
        "redis-server": "redis-server",
        "java": "openjdk-17-jre-headless",
        "mvn": "maven",
        "pkg-config": "pkg-config",
        # Debian's Chromium for the admin browser tests (Playwright cannot download its own here).
        "chromium": "chromium",
    }
    missing = [package for command, package in commands.items() if not shutil.which(command)]
    if shutil.which("pkg-config") and subprocess.run(["pkg-config", "--exists", "mysqlclient"]).returncode:
        missing.append("default-libmysqlclient-dev")
    apt_install(missing)


def install_mysql_driver() -> None:
    lock = ROOT / "requirements" / "lock" / "mysql.txt"
    stamp, digest = VENV / ".requirements-mysql", hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    log("installing the MySQL driver (compiles mysqlclient)")
    run([PY, "-m", "pip", "install", "-q", "--require-hashes", "-r", str(lock)], "pip-mysql.log", "pip")
    stamp.write_text(digest)


# --- MariaDB: the system-wide datadir, /var/lib/mysql ----------------------------------------
def mariadb_datadir() -> None:
    os.makedirs("/run/mysqld", exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "mysql")
    if not os.path.isdir("/var/lib/mysql/mysql"):
        log("mariadb: initialising /var/lib/mysql")
        run(
            ["mariadb-install-db", "--user=mysql", "--datadir=/var/lib/mysql"],
            "mariadb-install.log",
            "mariadb-install-db",
        )


def mariadb_sql(sql: str) -> None:
    result = subprocess.run(["mariadb", "--protocol=socket", "-uroot"], input=sql, text=True)
    if result.returncode:
        die("mariadb: could not create the databases and users")


def mariadb_grants() -> None:
    # The user may create and drop test_gateway* databases (pytest, xdist workers).
    mariadb_sql(r"""
CREATE DATABASE IF NOT EXISTS gateway CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'gateway'@'127.0.0.1' IDENTIFIED BY 'gateway';
CREATE USER IF NOT EXISTS 'gateway'@'localhost' IDENTIFIED BY 'gateway';
GRANT ALL PRIVILEGES ON gateway.* TO 'gateway'@'127.0.0.1', 'gateway'@'localhost';
GRANT ALL PRIVILEGES ON `test\_gateway%`.* TO 'gateway'@'127.0.0.1', 'gateway'@'localhost';
""")


def manage(env: dict, *commands: list[str]) -> None:
    """manage.py commands in one Django process (its start-up is most of their time)."""
    script = "import django, json, sys; django.setup(); from django.core.management import call_command\n"
    script += "for command in json.loads(sys.argv[1]): call_command(*command)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings", **env}
    run([PY, "-c", script, json.dumps(commands)], "manage.log", f"manage.py {commands}", env)


def database_migrate() -> None:
    log("migrating the development database on MariaDB; Kafka's topics")
    topics = ["kafka_create_topics", "--wait", "60"]
    manage(services_env(), ["migrate", "--noinput", "-v0"], ["stripe_local_bootstrap"], topics)


def kafka_topics() -> None:
    manage(services_env(), ["kafka_create_topics", "--wait", "60"])


# --- Kafka (KRaft): the jars from Maven Central, a config and a formatted log dir per node ------
def kafka_fetch() -> None:
    pom = ROOT / "scripts" / "kafka" / "pom.xml"
    stamp, digest = KAFKA_LIBS / ".pom.sha256", hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    log("kafka: fetching the broker's jars from Maven Central")
    shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
    KAFKA_LIBS.mkdir(parents=True)
    mvn = ["mvn", "-B", "-q", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime"]
    run([*mvn, f"-DoutputDirectory={KAFKA_LIBS}"], "kafka-fetch.log", "kafka: mvn")
    stamp.write_text(digest)


def storage_tool(*args: str) -> str:
    return run(
        ["java", "-cp", f"{KAFKA_LIBS}/*", "kafka.tools.StorageTool", *args],
        "kafka-format.log",
        "kafka: StorageTool",
    )


def kafka_node(directory, settings: dict, cluster_id: str = "") -> None:
    """Writes server.properties into directory and formats its log dir once."""
    kafka_fetch()
    directory.mkdir(parents=True, exist_ok=True)
    common = {
        "process.roles": "broker,controller",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": f"{directory}/data",
        "num.partitions": "3",
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly (manage.py kafka_create_topics), never by accident.
        "auto.create.topics.enable": "false",
    }
    lines = [f"{key}={value}" for key, value in {**common, **settings}.items()]
    (directory / "server.properties").write_text("# Written by scripts/stack.\n" + "\n".join(lines) + "\n")
    (directory / "log4j2.properties").write_text(
        (ROOT / "scripts" / "kafka" / "log4j2.properties").read_text()
    )
    if not (directory / "data" / "meta.properties").exists():
        log(f"kafka: formatting {directory.relative_to(ROOT)}")
        storage_tool(
            "format",
            "-t",
            cluster_id or storage_tool("random-uuid").strip(),
            "-c",
            f"{directory}/server.properties",
        )


def kafka_single() -> None:
    kafka_node(
        SVC / "kafka",
        {
            "node.id": "1",
            "controller.quorum.voters": "1@127.0.0.1:9093",
            "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "advertised.listeners": "PLAINTEXT://127.0.0.1:9092",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
        },
    )


def kafka_cluster_node(n: int) -> None:
    """Node n of 3, broker and controller; replication factor 3, min.insync.replicas 2."""
    id_file = CLUSTER / "kafka-cluster-id"
    if not id_file.exists():
        id_file.write_text(storage_tool("random-uuid").strip())
    port, controller = KAFKA_CLUSTER_PORTS[n]
    voters = ",".join(f"{i}@127.0.0.1:{c}" for i, (_p, c) in KAFKA_CLUSTER_PORTS.items())
    kafka_node(
        CLUSTER / f"kafka-{n}",
        {
            "node.id": str(n),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "default.replication.factor": "3",
            "min.insync.replicas": "2",
            "offsets.topic.replication.factor": "3",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
            "share.coordinator.state.topic.replication.factor": "3",
            "share.coordinator.state.topic.min.isr": "2",
            # A killed broker is declared dead, and its partitions get new leaders, after
            # 3 s instead of 9: the producer's sends to it wait that long.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "1000",
            "unclean.leader.election.enable": "false",
        },
        id_file.read_text().strip(),
    )


# --- stripe-mock: Stripe's own mock, a Go module built once into .services/bin ----------------
def stripe_mock_build() -> None:
    binary, version = SVC / "bin" / "stripe-mock", SVC / "bin" / "stripe-mock.version"
    if binary.exists() and version.exists() and version.read_text().strip() == STRIPE_MOCK_VERSION:
        return
    if not shutil.which("go"):
        die(f"stripe-mock needs Go (go install github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION})")
    log(f"stripe-mock: building {STRIPE_MOCK_VERSION} (about a minute, once)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(binary.parent)}
    run(
        ["go", "install", f"github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}"],
        "stripe-mock-build.log",
        "go install",
        env,
    )
    version.write_text(STRIPE_MOCK_VERSION)


def jaeger_build() -> None:
    """The trace receiver of `make tracing` (scripts/stack/jaeger.yaml), built once per
    checkout: about 14 minutes on 2 cores with cold Go caches, 15 s with warm ones."""
    binary, version = SVC / "bin" / "jaeger", SVC / "bin" / "jaeger.version"
    if binary.exists() and version.exists() and version.read_text().strip() == JAEGER_VERSION:
        return
    if not shutil.which("go"):
        die(f"Jaeger needs Go (github.com/jaegertracing/jaeger/cmd/jaeger@{JAEGER_VERSION})")
    log(f"jaeger: building {JAEGER_VERSION} (minutes with cold Go caches, once)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    module = ROOT / "scripts" / "stack" / "jaeger"
    command = [
        "go",
        "build",
        "-C",
        str(module),
        "-o",
        str(binary),
        "github.com/jaegertracing/jaeger/cmd/jaeger",
    ]
    run(command, "jaeger-build.log", "go build (jaeger)")
    version.write_text(JAEGER_VERSION)


# --- the cluster: its environment, database and topics -------------------------------------------
def cluster_files() -> None:
    """.services/cluster/{secrets,cluster,endpoints}.env: production settings
    (DJANGO_DEBUG off); every address is a setting, as on a multi-host deployment."""
    CLUSTER.mkdir(parents=True, exist_ok=True)
    (CLUSTER / "logs").mkdir(exist_ok=True)
    secret_file = CLUSTER / "secrets.env"
    if not secret_file.exists():
        secret_file.touch(mode=0o600)
        secret_file.write_text(
            f"DJANGO_SECRET_KEY=cluster-{secrets.token_hex(32)}\nOTP_SECRET=cluster-otp-{secrets.token_hex(32)}\n"
        )
    brokers = ",".join(f"127.0.0.1:{port}" for port, _c in KAFKA_CLUSTER_PORTS.values())
    shutil.copy(ROOT / "scripts" / "stack" / "cluster.env", CLUSTER / "cluster.env")
    nodes = ",".join(f"http://127.0.0.1:{port}" for port in GATEWAY_PORTS.values())
    (CLUSTER / "endpoints.env").write_text(
        "# Written by scripts/services.sh cluster.\n"
        f"GATEWAY_URL=http://127.0.0.1:{HAPROXY_PORT}\nGATEWAY_NODES={nodes}\nKAFKA_BROKERS={brokers}\n"
        f"DATABASE_URL=mysql://gateway:gateway@127.0.0.1:3306/{CLUSTER_DB}\n"
        "CELERY_BROKER_URL=redis://127.0.0.1:6379/11\n"
    )


def cluster_database() -> None:
    mariadb_sql(
        f"CREATE DATABASE IF NOT EXISTS {CLUSTER_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
        f"GRANT ALL PRIVILEGES ON {CLUSTER_DB}.* TO 'gateway'@'127.0.0.1', 'gateway'@'localhost';\n"
    )
    log(f"migrating {CLUSTER_DB}")
    topics = ["kafka_create_topics", "--wait", "90"]
    manage(cluster_env(), ["migrate", "--noinput", "-v0"], ["stripe_local_bootstrap"], topics)


def haproxy_install() -> None:
    if not shutil.which("haproxy"):
        apt_install(["haproxy"])
    run(
        ["haproxy", "-c", "-q", "-f", str(ROOT / "scripts" / "stack" / "haproxy.cfg")],
        "haproxy-check.log",
        "haproxy -c",
    )
