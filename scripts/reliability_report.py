"""Writes docs/RELIABILITY.md from a test run: each case a test claims with
`@pytest.mark.reliability(area, case)`, the tests that claim it, their result in
this run, and the command that reproduces it. `make reliability` runs it (against
the services of `make services`); gateway/tests/test_reliability_report.py checks
the claims.

A marker names the node it is set on: on a test function, that test (all its
parameters); on one parameter (`pytest.param(..., marks=...)`), that parameter; in
a module's `pytestmark`, the module. Tests that claim the same (area, case) make one
row. This module is also the pytest plugin that lists the claims (`collect()`).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The areas, in the order of the document.
AREAS = (
    "Bad input",
    "Faults",
    "Exactly once",
    "Stripe's contract",
    "Concurrency",
    "Security",
    "Security hardening",
    "Merchant integration",
)

# Where the plugin writes the claims it finds: a list of [area, case, node id].
CLAIMS_FILE = "RELIABILITY_CLAIMS_FILE"


def pytest_collection_finish(session) -> None:
    """The plugin's hook (`pytest -p reliability_report`): every claim of the collected tests."""
    import pytest

    claims = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        for node, mark in item.iter_markers_with_node("reliability"):
            if len(mark.args) != 2 or mark.kwargs or not all(isinstance(arg, str) for arg in mark.args):
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.reliability takes (area, case)")
            if node is not item:
                node_id = node.nodeid  # a module's (or a class's) pytestmark
            elif callspec is not None and mark in callspec.marks:
                node_id = item.nodeid
            else:
                node_id = f"{item.parent.nodeid}::{item.originalname}"
            claim = [*mark.args, node_id]
            if claim not in claims:
                claims.append(claim)
    Path(os.environ[CLAIMS_FILE]).write_text(json.dumps(claims))


def collect() -> list[tuple[str, str, str]]:
    """(area, case, node id) of every claim, in the order pytest collects the tests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "claims.json"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "scripts"), os.environ.get("PYTHONPATH")])),
            **{CLAIMS_FILE: str(out)},
        )
        plugins = ["-p", "no:randomly", "-p", "reliability_report"]  # this module, from PYTHONPATH
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", *plugins],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"collecting the tests failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return [tuple(claim) for claim in json.loads(out.read_text())]


def cases(claims: list[tuple[str, str, str]]) -> list[tuple[str, str, list[str]]]:
    """(area, case, [test node ids]): one row per (area, case), by area in the
    order of AREAS, then in the order of collection."""
    rows: dict[tuple[str, str], list[str]] = {}
    for area, case, node_id in claims:
        if area not in AREAS:
            raise ValueError(
                f"{node_id}: unknown area {area!r}; the areas are scripts/reliability_report.py's AREAS"
            )
        rows.setdefault((area, case), []).append(node_id)
    return sorted(
        ((area, case, nodes) for (area, case), nodes in rows.items()), key=lambda row: AREAS.index(row[0])
    )


def run(node_ids: list[str]) -> dict[str, str]:
    out = ROOT / ".test-artifacts" / "reliability.xml"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--junitxml={out}", *node_ids],
        cwd=ROOT,
        env=os.environ,
        check=False,
    )
    results: dict[str, str] = {}
    for case in ET.parse(out).getroot().iter("testcase"):  # noqa: S314 (our own pytest report)
        path = case.get("classname", "").replace(".", "/") + ".py"
        full_name = case.get("name", "")
        failed = case.find("failure") is not None or case.find("error") is not None
        # A node named with its parameters ([row-id]) gets its own result; one
        # named without them, the result of all its parameters; a module, the
        # result of all its tests.
        for key in {f"{path}::{full_name}", f"{path}::{full_name.split('[')[0]}", path}:
            if failed or key not in results:
                results[key] = "fail" if failed else "pass"
    return results


def markdown(rows: list[tuple[str, str, list[str]]], results: dict[str, str]) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Reliability and security matrix",
        "",
        f"Generated by `make reliability` (scripts/reliability_report.py) at commit `{commit}`, "
        f"{datetime.date.today()}, against the real services of `make services`. Every row is the result "
        "of the tests named in it in that run; `make test` runs the same tests.",
        "",
        "| area | case | result | reproduce |",
        "|---|---|---|---|",
    ]
    for area, case, nodes in rows:
        states = [results.get(node, "not run") for node in nodes]
        result = "pass" if all(s == "pass" for s in states) else ", ".join(sorted(set(states)))
        command = "make test PYTEST_ARGS='" + " ".join(nodes) + "'"
        lines.append(f"| {area} | {case} | {result} | `{command}` |")
    lines += [
        "",
        "Also: `make fuzz` (a longer Schemathesis run), `make lint` (bandit; pip-audit, reported as skipped "
        "when its advisory data is unreachable), and the card-data scan that ends `make test`.",
    ]
    return "\n".join(lines) + "\n"


def sections_kept(doc: str) -> str:
    """The sections other commands write (the cluster under chaos, the
    simulation): everything from the first second-level heading on."""
    match = re.search(r"^## ", doc, re.MULTILINE)
    return "\n" + doc[match.start() :] if match else ""


if __name__ == "__main__":
    path = ROOT / "docs" / "RELIABILITY.md"
    rows = cases(collect())
    results = run([node for _, _, nodes in rows for node in nodes])
    path.write_text(markdown(rows, results) + sections_kept(path.read_text() if path.exists() else ""))
    print((ROOT / "docs" / "RELIABILITY.md").read_text())
