"""The targets of issue #16 and the Markdown table of a `make bench` report (scripts/bench.py)."""

from __future__ import annotations


def targets(results: list[dict], events: dict, *, embedded: bool) -> dict:
    """Issue #16's targets, measured: CPU per request of the web process (all
    its workers) and of the Celery worker, from /proc; `app` from Server-Timing."""

    def row(scenario, connections):
        return next(
            (r for r in results if r["scenario"] == scenario and r["connections"] == connections), None
        )

    def cpu(scenario, kind, connections=16):
        found = row(scenario, connections) or row(scenario, 1)
        return found and found["cpu_ms"].get(kind)

    def app_p99(scenario, connections):
        found = row(scenario, connections)
        return found and found["app_p99_ms"]

    if embedded:
        return {
            "server CPU per payment <= 6 ms": cpu("process", "gateway"),
            "server CPU per GET payment <= 1.5 ms": cpu("get_payment", "gateway"),
            "server CPU per GET /health <= 0.4 ms": cpu("health", "gateway"),
            "app p99 of a payment at 1 connection <= 10 ms": app_p99("process", 1),
            "5xx (all runs) == 0": sum(r["5xx"] for r in results),
        }
    return {
        "web CPU per payment <= 4 ms": cpu("process", "gateway"),
        "background (Celery) CPU per payment <= 2 ms": round(
            (cpu("process", "celery") or 0) + (cpu("process", "relay") or 0), 3
        ),
        "web CPU per GET payment <= 1 ms": cpu("get_payment", "gateway"),
        "web CPU per GET /health <= 0.2 ms": cpu("health", "gateway"),
        "web CPU per validate-card <= 0.5 ms": cpu("validate_card", "gateway"),
        "app p99, process at 1 connection <= 5 ms": app_p99("process", 1),
        "app p99, process at 16 connections <= 25 ms": app_p99("process", 16),
        "queries per payment <= 8": (row("process", 16) or {}).get("queries_per_request"),
        "5xx (all runs) == 0": sum(r["5xx"] for r in results),
        "lost events == 0": events["succeeded_payments"] - events["payment_succeeded_events_in_kafka"],
    }


def markdown(report: dict) -> str:
    kinds = list(report["results"][0].get("cpu_ms", {})) if report["results"] else []
    lines = [
        f"Commit `{report['commit']}`, {report['date']}, {report['machine']}, {report['duration_s']} s per run, "
        f"server: {report.get('server', '')}.",
        "",
        "| scenario | conns | req/s | p50 ms | p99 ms | app p50 ms | app p99 ms | psp p50 ms | non-2xx "
        "| 5xx | queries/req | CPU ms/req: " + ", ".join(kinds) + " |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        cpu = " / ".join(str(r["cpu_ms"].get(kind, "-")) for kind in kinds)
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {r['rps']} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['app_p50_ms']} | {r['app_p99_ms']} | {r.get('psp_p50_ms')} | {r['non_2xx']} | "
            f"{r['5xx']} | {r['queries_per_request']} | {cpu} |"
        )
    if any(r.get("engines_per_request") for r in report["results"]):
        lines += _engine_lines(report)
    lines += ["", f"Events: {report['events']}", "", "| target | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in report["targets"].items()]
    return "\n".join(lines) + "\n"


def _engine_lines(report: dict) -> list[str]:
    """MariaDB, Redis and Kafka per request (not for the embedded default: none runs)."""
    lines = [
        "",
        "What one request costs the shared engines (server-wide counters; background work included):",
        "",
        "| scenario | conns | MariaDB commits | inserts | updates | selects | Redis commands "
        "| Kafka messages | Kafka value bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        e = r.get("engines_per_request") or {}
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {e.get('Com_commit')} | {e.get('Com_insert')} | "
            f"{e.get('Com_update')} | {e.get('Com_select')} | {e.get('redis_commands')} | "
            f"{e.get('kafka_messages')} | {e.get('kafka_value_bytes')} |"
        )
    return lines
