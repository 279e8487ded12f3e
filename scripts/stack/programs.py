"""Every process of `make services` and `make cluster`, defined once: command,
port (readiness: it answers there), the steps before its start and after it
answers. .services/supervisord.conf is generated from this list; supervisord
starts nothing by itself (autostart off) and restarts nothing (autorestart off),
so that a process killed by chaos stays down until it is started."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stack import CLUSTER, LOGS, PY, ROOT, SVC, VENV, cluster_env, cluster_relays, prepare, services_env

CELERY = f"{VENV}/bin/celery -A gateway"
RELAY = f"{PY} manage.py outbox_relay"
WEB = f"{VENV}/bin/python -m gateway.server"
LIBS = f"{prepare.KAFKA_LIBS}/*"


def kafka(directory, heap: str) -> str:
    return (
        f"java {heap} -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile={directory}/log4j2.properties "
        f"-cp {LIBS} kafka.Kafka {directory}/server.properties"
    )


@dataclass
class Program:
    name: str
    command: str
    group: str = "services"
    port: int | None = None
    ready_s: int = 60
    stop_s: int = 30
    before: Callable[[], None] | None = None  # before each start
    after: Callable[[], None] | None = None  # once it answers
    env: Callable[[], dict] = field(default=services_env)

    @property
    def full_name(self) -> str:
        return f"{self.group}:{self.name}"

    @property
    def log(self):
        return (LOGS if self.group == "services" else CLUSTER / "logs") / f"{self.name}.log"


SERVICES = [
    # Durability is relaxed (flush the log once a second): development and test data only.
    Program(
        "mariadb",
        "mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 --socket=/run/mysqld/mysqld.sock "
        "--skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "
        "--innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-size=256M --max-connections=300",
        port=3306,
        stop_s=60,
        before=prepare.mariadb_datadir,
        after=prepare.mariadb_grants,
    ),
    # Nothing is saved to disk: no RDB snapshots, no append-only file.
    Program(
        "redis",
        f'redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir {SVC}/redis',
        port=6379,
    ),
    Program(
        "kafka",
        kafka(SVC / "kafka", "-Xms256m -Xmx512m"),
        port=9092,
        ready_s=90,
        stop_s=40,
        before=prepare.kafka_single,
        after=prepare.kafka_topics,
    ),
    # From scratch: its state is test data, and a long-lived store only slows its lists.
    Program("localstripe", f"{PY} scripts/localstripe_loopback.py --port 8420 --from-scratch", port=8420),
    # stripe-mock logs every request's parameters ("Request data = …"), card numbers
    # included when the contract test tokenizes a test card: those lines never reach the log.
    Program(
        "stripe-mock",
        f'bash -c "{SVC}/bin/stripe-mock -http-addr 127.0.0.1:12111 -https-addr 127.0.0.1:12112 </dev/null 2>&1 '
        "| exec grep --line-buffered -v '^Request data'\"",
        port=12111,
        before=prepare.stripe_mock_build,
    ),
    Program(
        "celery-worker",
        f"{CELERY} worker --loglevel=INFO --concurrency=2 -Q celery,djstripe,webhooks --hostname=services@%h",
    ),
    # The outbox relay: a process that waits for wake-ups (Redis) and relays every
    # shard (OUTBOX_SHARDS, 1 here), not a Celery worker: an event never waits behind a task.
    Program("relay", RELAY),
    Program("celery-beat", f"{CELERY} beat --loglevel=INFO --schedule={SVC}/celerybeat-schedule"),
]


# On demand only (`make tracing`; the test that reads a trace back starts it): not in `make services`.
TRACING = [
    Program(
        "jaeger",
        f"{SVC}/bin/jaeger --config {ROOT}/scripts/stack/jaeger.yaml",
        port=16686,
        before=prepare.jaeger_build,
        env=dict,
    )
]


def _cluster() -> list[Program]:
    programs = []
    for n, (port, _controller) in prepare.KAFKA_CLUSTER_PORTS.items():
        heap = "-Xms128m -Xmx384m -XX:TieredStopAtLevel=1"
        before = lambda n=n: prepare.kafka_cluster_node(n)  # noqa: E731
        programs.append(
            Program(
                f"kafka-{n}",
                kafka(CLUSTER / f"kafka-{n}", heap),
                port=port,
                ready_s=120,
                stop_s=40,
                before=before,
            )
        )
    for n, port in prepare.GATEWAY_PORTS.items():
        env = lambda port=port: {**cluster_env(), "SERVER_PORT": str(port)}  # noqa: E731
        programs.append(Program(f"gateway-{n}", WEB, port=port, env=env))
    for n in (1, 2):  # two worker nodes
        worker = f"{CELERY} worker --concurrency=1 --loglevel=WARNING"
        programs.append(
            Program(f"worker-{n}", f"{worker} -Q celery,djstripe,webhooks --hostname=cluster-worker-{n}@%h")
        )
    # One relay per outbox shard: relay-1 relays shard 0, ... (CLUSTER_RELAYS, and
    # OUTBOX_SHARDS with it in cluster_env()).
    for n in range(1, cluster_relays() + 1):
        programs.append(Program(f"relay-{n}", f"{RELAY} --shard {n - 1}"))
    programs.append(
        Program("beat", f"{CELERY} beat --loglevel=WARNING --schedule={CLUSTER}/celerybeat-schedule")
    )
    haproxy = Program(
        "haproxy", f"haproxy -db -f {ROOT}/scripts/stack/haproxy.cfg", port=prepare.HAPROXY_PORT
    )
    haproxy.before = prepare.haproxy_install
    programs.append(haproxy)
    for program in programs:
        program.group = "cluster"
        if program.env is services_env:
            program.env = cluster_env
    return programs


CLUSTER_PROGRAMS = _cluster()
ALL = {program.name: program for program in SERVICES + TRACING + CLUSTER_PROGRAMS}


def find(name: str) -> Program:
    program = ALL.get(name.split(":")[-1])
    if program is None:
        raise SystemExit(f"unknown program {name}; one of: {', '.join(ALL)}")
    return program


def _quote(value: str) -> str:
    return '"' + value.replace("%", "%%").replace('"', '\\"') + '"'


def supervisord_conf() -> str:
    """The whole configuration; the environment of each program is read when
    it is written (the cluster's secrets exist once `make cluster` made them)."""
    sections = [
        f"; Written by scripts/stack from scripts/stack/programs.py: edit that, not this.\n"
        f"[unix_http_server]\nfile={SVC}/supervisor.sock\nchmod=0700\n\n"
        f"[supervisord]\nlogfile={SVC}/supervisord.log\npidfile={SVC}/supervisord.pid\ndirectory={ROOT}\n"
        "logfile_maxbytes=5MB\nlogfile_backups=1\n\n"
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl=unix://{SVC}/supervisor.sock\n",
        # Stopped whole (supervisord shutdown): the cluster first, it runs on the services.
        f"[group:services]\npriority=100\nprograms={','.join(p.name for p in SERVICES + TRACING)}\n",
        f"[group:cluster]\npriority=200\nprograms={','.join(p.name for p in CLUSTER_PROGRAMS)}\n",
    ]
    for program in SERVICES + TRACING + CLUSTER_PROGRAMS:
        env = program.env() if program.group == "services" or (CLUSTER / "secrets.env").exists() else {}
        sections.append(
            f"[program:{program.name}]\ncommand={program.command.replace('%', '%%')}\ndirectory={ROOT}\n"
            "autostart=false\nautorestart=false\nstartsecs=1\nstopasgroup=true\nkillasgroup=true\n"
            f"stopwaitsecs={program.stop_s}\nredirect_stderr=true\nstdout_logfile={program.log}\n"
            "stdout_logfile_maxbytes=0\n"
            + (f"environment={','.join(f'{k}={_quote(v)}' for k, v in env.items())}\n" if env else "")
        )
    return "\n".join(sections)
