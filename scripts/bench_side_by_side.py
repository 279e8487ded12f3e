"""`make bench-go`: the gateway side by side with the Go service it replaces (issue #28).

A benchmark, not a test. It measures `GET /health` and GET one payment on the
Go seed (Evently-Event-Management/ms-payment, built outside this repository:
docs/bench/README.md says how) and on our gateway, at each connection level,
alternating Go and ours for every cell (the order flips every round), for
`--rounds` rounds. Per run: req/s, latency p50/p99 (wrk's own, no Lua), and
CPU milliseconds per request of each server's process tree (psutil: user +
system over the run, divided by the requests answered). The report holds the
medians of the rounds and the ratio ours/Go, in
docs/bench/<date>-<commit>-side-by-side.{json,md}.

Our gateway runs as bench.py runs it (harness.gateway_start: the production
server, Granian since issue #28; DJANGO_DEBUG off).

Usage:
  .venv/bin/python scripts/bench_side_by_side.py --go-url http://127.0.0.1:8095 \\
      --go-pid 1234 --go-payment-id pay-bench-go-1 \\
      --database-url mysql://gateway:gateway@127.0.0.1:3306/gateway_h3 \\
      --redis-url redis://127.0.0.1:6379/12 --broker-url redis://127.0.0.1:6379/13
  (or --go-command "cd /tmp/go-seed && exec ./ms-payment" instead of --go-pid)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import commit, cpu_seconds, gateway_start, manage, production_env, report_write  # noqa: E402

SCENARIOS = ("health", "get_payment")
SIDES = ("go", "ours")
# The Go seed's GET one payment from its database (its /stripe/payment/:id asks Stripe).
GO_GET_PATH = "/api/v1/payments/{id}"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


# --- wrk's plain output ---------------------------------------------------------------------
def parse_wrk(text: str) -> dict:
    """Requests, seconds, req/s, p50/p99 in ms, non-2xx and socket errors from
    `wrk --latency` (no Lua script: a response() callback slows wrk itself)."""

    def duration_ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
        return round(float(number) * _UNITS[unit], 3)

    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    if done is None:
        raise ValueError(f"not wrk output:\n{text}")
    requests, seconds = int(done.group(1)), duration_ms(done.group(2) + done.group(3)) / 1000
    percentiles = {int(p): duration_ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "requests": requests,
        "seconds": seconds,
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "p50_ms": percentiles.get(50),
        "p99_ms": percentiles.get(99),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def run_wrk(url: str, connections: int, duration: int, headers: dict[str, str]) -> dict:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, "--latency", url], capture_output=True, text=True, timeout=duration + 120, check=False
    )
    return parse_wrk(out.stdout)


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (scenario, connections): each side's medians and the ratio ours/Go."""
    rows = []
    cells = sorted(
        {(r["scenario"], r["connections"]) for r in runs}, key=lambda c: (SCENARIOS.index(c[0]), c[1])
    )
    for scenario, connections in cells:
        row = {"scenario": scenario, "connections": connections}
        for side in SIDES:
            mine = [
                r
                for r in runs
                if (r["scenario"], r["connections"], r["side"]) == (scenario, connections, side)
            ]
            row[side] = {
                name: median([r[name] for r in mine])
                for name in ("rps", "p50_ms", "p99_ms", "cpu_ms", "non_2xx")
            }
            row[side]["runs"] = len(mine)
        go, ours = row["go"], row["ours"]
        row["ratio_rps"] = (
            round(ours["rps"] / go["rps"], 3) if go["rps"] and ours["rps"] is not None else None
        )
        row["ratio_cpu"] = (
            round(ours["cpu_ms"] / go["cpu_ms"], 2) if go["cpu_ms"] and ours["cpu_ms"] is not None else None
        )
        # The same round's two runs are minutes apart at most: their ratio is less
        # exposed to the machine's load drifting than the ratio of the medians.
        paired = []
        for round_ in sorted({r["round"] for r in runs}):
            both = {
                r["side"]: r["rps"]
                for r in runs
                if (r["scenario"], r["connections"], r["round"]) == (scenario, connections, round_)
            }
            if both.get("go") and "ours" in both:
                paired.append(both["ours"] / both["go"])
        row["ratio_rps_paired"] = median(paired)
        rows.append(row)
    return rows


def markdown(report: dict) -> str:
    lines = [
        f"# Side by side with the Go seed, `{report['commit']}`, {report['date']}",
        "",
        f"{report['machine']}, {report['duration_s']} s per run, {report['rounds']} rounds, Go and ours "
        "alternating in every cell (the order flips each round); figures are medians of the rounds. "
        "CPU is ms per request of each server's process tree (user + system, psutil). "
        "ours/Go req/s is the ratio of the medians; (paired) is the median of each round's own ratio.",
        "",
        f"- Go: {report['go']['label']} at `{report['go']['url']}`; GET one payment = `{report['go']['get_path']}`",
        f"- ours: {report['ours']['server']}; GET one payment = `{report['ours']['get_path']}` (API key, rate limit)",
        f"- command: `{report['command']}`",
        "",
        "| scenario | conns | Go req/s | ours req/s | ours/Go req/s (paired) | Go p50 / p99 ms | ours p50 / p99 ms "
        "| Go CPU ms/req | ours CPU ms/req | ours/Go CPU | non-2xx Go / ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["summary"]:
        go, ours = row["go"], row["ours"]
        lines.append(
            f"| {row['scenario']} | {row['connections']} | {go['rps']} | {ours['rps']} | **{row['ratio_rps']}** ({row['ratio_rps_paired']}) "
            f"| {go['p50_ms']} / {go['p99_ms']} | {ours['p50_ms']} / {ours['p99_ms']} "
            f"| {go['cpu_ms']} | {ours['cpu_ms']} | {row['ratio_cpu']} | {go['non_2xx']} / {ours['non_2xx']} |"
        )
    target = next(
        (r for r in report["summary"] if (r["scenario"], r["connections"]) == ("get_payment", 16)), None
    )
    if target and report["go"]["get_path"] == GO_GET_PATH:
        met = "met" if (target["ratio_rps"] or 0) >= 0.25 else "missed"
        lines += ["", f"Target ≥ 0.25× Go's req/s on GET payment (c16): **{target['ratio_rps']}** ({met})."]
    elif target:
        lines += [
            "",
            f"Go's GET here is `{report['go']['get_path']}`, not its database read: not the target's ratio.",
        ]
    lines += [
        "",
        "Every run:",
        "",
        "| round | scenario | conns | side | req/s | p50 ms | p99 ms | CPU ms/req |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in report["runs"]:
        lines.append(
            f"| {r['round']} | {r['scenario']} | {r['connections']} | {r['side']} | {r['rps']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {r['cpu_ms']} |"
        )
    return "\n".join(lines) + "\n"


# --- the two servers ------------------------------------------------------------------------
def wait_healthy(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)  # noqa: S310 (loopback)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}/health did not answer in {seconds:.0f} s")


def ours_start(env: dict) -> tuple[subprocess.Popen, int, str]:
    """bench.py's own mechanism: the production server (harness.gateway_start)."""
    process, port = gateway_start(env)
    wait_healthy(f"http://127.0.0.1:{port}")
    return process, port, "harness.gateway_start (bench.py's server): " + " ".join(_cmdline(process.pid))


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except OSError:
        return []


def ours_payment(base: str, key: str) -> str:
    body = {"order_id": f"side-by-side-{int(time.time())}", "amount": "19.99", "currency": "usd"}
    body["payment_method"] = "pm_card_visa"
    request = urllib.request.Request(
        f"{base}/api/v1/payments/process",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback, our own server)
        return json.loads(response.read())["payment_id"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--go-url", default="http://127.0.0.1:8095")
    parser.add_argument(
        "--go-pid", type=int, help="the running Go service's pid (its process tree is measured)"
    )
    parser.add_argument(
        "--go-command", help="a shell command that starts the Go service (stopped at the end)"
    )
    parser.add_argument(
        "--go-payment-id", help="a payment the Go service holds (its GET is skipped without one)"
    )
    parser.add_argument(
        "--go-get-path", default="/api/v1/payments/{id}", help="the Go service's GET one payment"
    )
    parser.add_argument("--go-label", default="Evently-Event-Management/ms-payment")
    parser.add_argument("--database-url", help="our gateway's DATABASE_URL (default: scripts/services.env's)")
    parser.add_argument("--redis-url", help="our REDIS_URL")
    parser.add_argument("--broker-url", help="our CELERY_BROKER_URL")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tag", default="", help="appended to the report's name")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    if bool(args.go_pid) == bool(args.go_command):
        sys.exit("give the Go service's --go-pid or a --go-command that starts it")
    scenarios = [s for s in args.scenarios.split(",") if s]
    if set(scenarios) - set(SCENARIOS):
        sys.exit(f"scenarios: {', '.join(SCENARIOS)}")
    levels = [int(c) for c in args.connections.split(",")]

    env = production_env()
    for name, value in (
        ("DATABASE_URL", args.database_url),
        ("REDIS_URL", args.redis_url),
        ("CELERY_BROKER_URL", args.broker_url),
    ):
        if value:
            env[name] = value
    key = manage(env, "create_api_client", "bench-side-by-side", "--rotate").strip().splitlines()[-1]

    go_process = None
    if args.go_command:
        go_process = subprocess.Popen(
            ["sh", "-c", args.go_command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    go_pid = args.go_pid or go_process.pid
    wait_healthy(args.go_url)
    server, port, server_model = ours_start(env)
    base = f"http://127.0.0.1:{port}"
    runs = []
    try:
        payment_id = ours_payment(base, key)
        targets = {
            ("go", "health"): (f"{args.go_url}/health", {}, go_pid),
            ("ours", "health"): (f"{base}/health", {}, server.pid),
            ("ours", "get_payment"): (
                f"{base}/api/v1/payments/{payment_id}",
                {"Authorization": f"Bearer {key}"},
                server.pid,
            ),
        }
        if args.go_payment_id:
            targets["go", "get_payment"] = (
                args.go_url + args.go_get_path.format(id=args.go_payment_id),
                {},
                go_pid,
            )
        for side, scenario in targets:  # warm both (connections, caches, lazy imports)
            url, headers, _ = targets[side, scenario]
            run_wrk(url, 4, 1, headers)
        for round_ in range(1, args.rounds + 1):
            order = SIDES if round_ % 2 else tuple(reversed(SIDES))
            for scenario in scenarios:
                for connections in levels:
                    for side in order:
                        if (side, scenario) not in targets:
                            continue
                        url, headers, pid = targets[side, scenario]
                        before = cpu_seconds(pid)
                        measured = run_wrk(url, connections, args.duration, headers)
                        spent = cpu_seconds(pid) - before
                        measured["cpu_ms"] = (
                            round(spent * 1000 / measured["requests"], 3) if measured["requests"] else None
                        )
                        run = {
                            "round": round_,
                            "scenario": scenario,
                            "connections": connections,
                            "side": side,
                        }
                        runs.append({**run, **measured})
                        print(
                            f"round {round_} {scenario:<12} c={connections:<3} {side:<4} {measured['rps']:>9} req/s "
                            f"p50 {measured['p50_ms']} ms p99 {measured['p99_ms']} ms "
                            f"CPU {measured['cpu_ms']} ms/req non-2xx {measured['non_2xx']}",
                            flush=True,
                        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        if go_process is not None:
            os.killpg(go_process.pid, signal.SIGTERM)
            go_process.wait(timeout=60)

    report = {
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "duration_s": args.duration,
        "rounds": args.rounds,
        "command": " ".join(["scripts/bench_side_by_side.py", *sys.argv[1:]]).replace(key, "<key>"),
        "go": {"label": args.go_label, "url": args.go_url, "get_path": args.go_get_path},
        "ours": {"server": server_model, "get_path": "/api/v1/payments/{id}"},
        "summary": summarize(runs),
        "runs": runs,
    }
    tag = f"-{args.tag}" if args.tag else ""
    report_write(report, markdown(report), f"-side-by-side{tag}")


if __name__ == "__main__":
    main()
