"""supervisord itself (started in the background on first use, over a unix socket
under .services/) and the verbs on its programs: start (and wait until it
answers), stop, kill, status. `supervisorctl -c .services/supervisord.conf`
reaches the same supervisord by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import xmlrpc.client

from supervisor.xmlrpc import SupervisorTransport

from stack import SVC, VENV, die, log, port_open, prepare
from stack.programs import ALL, Program, find, supervisord_conf

CONF = SVC / "supervisord.conf"
SOCKET = SVC / "supervisor.sock"
UP = ("RUNNING", "STARTING")


def rpc():
    transport = SupervisorTransport(None, None, f"unix://{SOCKET}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def supervisord_running() -> bool:
    try:
        return rpc().getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


def supervisord() -> None:
    """Writes the configuration and makes sure supervisord runs it. A group whose
    definition changed is reloaded when none of its processes runs."""
    prepare.cluster_files()
    (SVC / "logs").mkdir(parents=True, exist_ok=True)
    (SVC / "redis").mkdir(exist_ok=True)
    text = supervisord_conf()
    changed_file = not CONF.exists() or CONF.read_text() != text
    if changed_file:
        # The cluster's programs carry its secrets in their environment: owner only.
        CONF.touch(mode=0o600)
        CONF.chmod(0o600)
        CONF.write_text(text)
    if not supervisord_running():
        log("supervisord: starting (.services/supervisord.conf)")
        # Its programs get no PYTHONPATH of ours, and no pipe of a caller that waits for EOF.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        std = subprocess.DEVNULL
        subprocess.run(
            [f"{VENV}/bin/supervisord", "-c", str(CONF)],
            env=env,
            stdin=std,
            stdout=std,
            stderr=std,
            check=True,
        )
        for _ in range(100):
            if supervisord_running():
                return
            time.sleep(0.1)
        die("supervisord did not start (see .services/supervisord.log)")
    if changed_file:
        [[added, changed, removed]] = rpc().reloadConfig()
        for group in added:
            rpc().addProcessGroup(group)
        for group in changed + removed:
            if any(info["statename"] in UP for info in infos() if info["group"] == group):
                log(f"{group}: definition changed; `make services-down` and up again applies it")
                continue
            rpc().removeProcessGroup(group)
            if group in changed:
                rpc().addProcessGroup(group)


def infos() -> list[dict]:
    return rpc().getAllProcessInfo() if supervisord_running() else []


def info(program: Program) -> dict:
    return next((i for i in infos() if i["name"] == program.name), {"statename": "STOPPED", "pid": 0})


def running(program: Program) -> bool:
    return info(program)["statename"] in UP


def pid(name: str) -> int:
    """The pid of a running program (0 if it does not run under our supervisord)."""
    found = info(find(name))
    return found["pid"] if found["statename"] in UP else 0


def start(programs: list[Program], hooks: bool = True) -> None:
    """Starts those not running, all at once, then waits until each answers and
    runs what follows its start (grants, topics)."""
    started = []
    for program in programs:
        if running(program):
            continue
        if program.port and port_open(program.port):
            if program.group != "services":
                die(f"port {program.port} of {program.name} is taken by a process not ours")
            log(f"{program.name}: reusing the server on port {program.port}")
            continue
        if program.before:
            program.before()
        log(f"{program.name}: starting")
        rpc().clearProcessLogs(program.full_name)
        rpc().startProcess(program.full_name, False)
        started.append(program)
    for program in started:
        wait_ready(program)
    for program in programs:
        if program.after and hooks:
            program.after()


def wait_ready(program: Program) -> None:
    deadline = time.monotonic() + program.ready_s
    while time.monotonic() < deadline:
        state = info(program)["statename"]
        if state == "RUNNING" and (program.port is None or port_open(program.port)):
            return
        if state not in UP:
            break
        time.sleep(0.25)
    tail = program.log.read_text(errors="replace").splitlines()[-30:] if program.log.exists() else []
    die(f"{program.name} did not come up ({info(program)['statename']}):\n" + "\n".join(tail))


def stop(programs: list[Program]) -> None:
    for program in programs:
        if not running(program):
            die(f"{program.name} was not started by this checkout's supervisord")
        log(f"{program.name}: stopping")
        rpc().stopProcess(program.full_name, True)
        for _ in range(80):
            if program.port is None or not port_open(program.port):
                break
            time.sleep(0.25)
        else:
            die(f"{program.name} still answers on {program.port}")


def kill(program: Program) -> None:
    """SIGKILL to the program's whole process group (a Granian server's or a prefork
    worker's children die with it); autorestart is off, so it stays down."""
    found = info(program)
    if found["statename"] not in UP:
        die(f"{program.name} is not running")
    log(f"{program.name}: SIGKILL (pid {found['pid']})")
    os.killpg(found["pid"], signal.SIGKILL)
    for _ in range(80):
        if not running(program):
            return
        time.sleep(0.05)


def stop_group(group: str) -> None:
    if supervisord_running():
        rpc().stopProcessGroup(group, True)


def shutdown() -> None:
    """Stops every program (the cluster first: group priorities) and supervisord."""
    if not supervisord_running():
        return
    supervisord_pid = rpc().getPID()
    log("stopping everything and supervisord")
    rpc().shutdown()
    while True:
        try:
            os.kill(supervisord_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.25)


def status(group: str | None = None) -> None:
    states = {i["name"]: i for i in infos()}
    for program in ALL.values():
        if group and program.group != group:
            continue
        state = states.get(program.name, {"statename": "STOPPED", "pid": 0})
        up = state["statename"] in UP
        where = f"127.0.0.1:{program.port}" if program.port else ""
        if program.port and not up and port_open(program.port):
            print(f"  {program.name}\tup\t(not ours)\t{where}")
        else:
            pid_text = f"pid {state['pid']}" if up else ""
            print(f"  {program.name}\t{'up' if up else 'down'}\t{pid_text}\t{where}")
