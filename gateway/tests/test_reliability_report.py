"""docs/RELIABILITY.md is generated from tests (scripts/reliability_report.py):
every test it names must exist, and the document must list every case."""

import subprocess
import sys

from conftest import ROOT, load_script

report = load_script("reliability_report")


def test_every_test_the_matrix_names_exists():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *report.node_ids()],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_document_lists_every_case():
    document = (ROOT / "docs" / "RELIABILITY.md").read_text()
    for _, case, _ in report.CASES:
        assert case in document
