"""Writes a simulation's figures (`make simulate`) or the mutants' table (`make
simulate-mutants`) into their marked block of docs/RELIABILITY.md, leaving the
rest of the file as it is.

    python -m gateway.tests.simulation.report .test-artifacts/simulate.txt
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "RELIABILITY.md"


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def docs_block_update(name: str, text: str) -> None:
    """Replaces the text between <!-- name:begin --> and <!-- name:end -->."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    doc = DOC.read_text()
    if begin not in doc:
        raise SystemExit(f"{DOC} has no {begin} block")
    doc = doc[: doc.index(begin)] + f"{begin}\n{text.rstrip()}\n{end}" + doc[doc.index(end) + len(end) :]
    DOC.write_text(doc)
    print(f"updated the {name} block of {DOC.relative_to(ROOT)}")


def simulation_figures(output: str, seconds: str) -> str:
    summary = re.search(r"^simulation: .*$", output, re.MULTILINE)
    answers = re.search(r"^answers: .*$", output, re.MULTILINE)
    if summary is None:
        raise SystemExit("the simulation printed no summary (did it fail?)")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"`make simulate SIM_SECONDS={seconds}` at commit `{commit()}`, {stamp}:\n\n"
        f"- {summary.group(0).removeprefix('simulation: ')}\n"
        + (f"- {answers.group(0)}\n" if answers else "")
    )


if __name__ == "__main__":
    import os

    text = Path(sys.argv[1]).read_text()
    docs_block_update("simulation", simulation_figures(text, os.environ.get("SIM_SECONDS", "?")))
