"""Dependencies point one way: otp and stripe_integration build on payments,
payments on gateway, and the ground imports no app (pyproject.toml's
import-linter contract, also run by `make lint`)."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_no_lower_layer_imports_a_higher_one():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout
