"""scripts/services.sh: the local services and the cluster, under supervisord.

  up                     install what is missing, start what is not running, wait until each answers
  down                   stop everything this checkout started (the cluster first) and supervisord
  status [GROUP]         one line per program (GROUP: services or cluster)
  cluster                the cluster (after up): 3 Kafka nodes, 3 gateways behind HAProxy, workers, beat
  cluster-ensure         start whatever of the cluster is not running (no migrate, no topics)
  cluster-down           stop the cluster's programs
  start|stop|restart|kill NAME...   one program: mariadb, kafka, kafka-2, gateway-1, relay-1, ...
  kafka-stop, redis-start, ...      the fault tests' names for stop and start

A service whose port already answers is reused, not started twice (for
example localstripe of another checkout). Logs: .services/logs/ and
.services/cluster/logs/; settings: scripts/services.env, scripts/stack/cluster.env.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from stack import VENV, die, log, port_open, prepare
from stack import control as ctl
from stack.programs import ALL, CLUSTER_PROGRAMS, SERVICES, find

# Our launcher (scripts/localstripe_loopback.py) adds Stripe's idempotency keys and
# PaymentIntent search to localstripe; the tests rely on both, so a server on the
# port that lacks them (a plain localstripe, an older launcher) is not reused.
LOCALSTRIPE_LAUNCHER_VERSION = 3


def localstripe_check() -> None:
    localstripe = ALL["localstripe"]
    if not port_open(8420):
        return
    try:
        with urllib.request.urlopen("http://127.0.0.1:8420/_config/launcher", timeout=3) as answer:
            features = json.load(answer)
    except (OSError, ValueError):
        features = {}
    if features.get("owner") == "run":
        die(
            "port 8420 is make run's localstripe, which stops with make run; stop make run (Ctrl-C), then run this again"
        )
    if features.get("version") == LOCALSTRIPE_LAUNCHER_VERSION:
        return
    if not ctl.running(localstripe):
        die(
            f"port 8420 answers, but not as scripts/localstripe_loopback.py v{LOCALSTRIPE_LAUNCHER_VERSION}; stop that server"
        )
    log("localstripe: restarting an older launcher")
    ctl.stop([localstripe])


def up() -> None:
    if not VENV.joinpath("bin", "python").exists():
        die(f"no virtualenv at {VENV}: run 'make services', which creates it")
    prepare.install_packages()
    # The slow, independent ones go on beside the rest: stripe-mock's build
    # (about a minute, once per checkout) and Kafka's jars.
    with ThreadPoolExecutor(2) as pool:
        builds = [pool.submit(prepare.stripe_mock_build), pool.submit(prepare.kafka_fetch)]
        prepare.install_mysql_driver()
        for build in builds:
            build.result()
    ctl.supervisord()
    localstripe_check()
    ctl.start([program for program in SERVICES if program.port], hooks=False)
    prepare.mariadb_grants()
    prepare.database_migrate()
    ctl.start([program for program in SERVICES if not program.port])
    log("all services are up")
    ctl.status("services")


def cluster(migrate: bool = True) -> None:
    if not (VENV / "bin" / "python").exists() or not all(port_open(p) for p in (3306, 6379, 8420)):
        die("MariaDB, Redis and localstripe must run: 'make services'")
    ctl.supervisord()
    ctl.start([program for program in CLUSTER_PROGRAMS if program.name.startswith("kafka-")])
    if migrate:
        prepare.cluster_database()
    ctl.start(CLUSTER_PROGRAMS)
    url = f"http://127.0.0.1:{prepare.HAPROXY_PORT}/health/ready"
    for _ in range(120):
        try:
            with urllib.request.urlopen(url, timeout=2):
                log(
                    f"ready: http://127.0.0.1:{prepare.HAPROXY_PORT} (endpoints in .services/cluster/endpoints.env)"
                )
                return
        except OSError:
            time.sleep(0.5)
    die("the gateway is not ready behind haproxy after 60 s (logs in .services/cluster/logs)")


def main(argv: list[str]) -> None:
    verb, names = (argv[0] if argv else "up"), argv[1:]
    legacy = verb.rsplit("-", 1)
    if len(legacy) == 2 and legacy[0] in ("kafka", "redis", "mariadb") and legacy[1] in ("stop", "start"):
        verb, names = legacy[1], [legacy[0]]
    programs = [find(name) for name in names] if verb in ("start", "stop", "restart", "kill") else []
    if verb in ("start", "stop", "restart", "kill") and not programs:
        die(f"{verb} needs a program: {', '.join(ALL)}")
    if verb == "up":
        up()
    elif verb == "down":
        ctl.shutdown()
    elif verb == "status":
        ctl.status(names[0] if names else None)
    elif verb == "cluster":
        cluster()
    elif verb == "cluster-ensure":
        cluster(migrate=False)
    elif verb == "cluster-down":
        ctl.stop_group("cluster")
    elif verb in ("stop", "restart"):
        ctl.stop(programs)
    elif verb == "kill":
        for program in programs:
            ctl.kill(program)
    elif verb != "start":
        die(__doc__)
    if verb in ("start", "restart"):
        ctl.supervisord()
        ctl.start(programs)


if __name__ == "__main__":
    main(sys.argv[1:])
