"""`make lint`'s security part: bandit on our code, pip-audit on the pinned requirements.

bandit must be clean; each exception is a `# nosec <id>` with its reason on
the line above. pip-audit fails on any known vulnerability. When its advisory
data (PyPI's vulnerability API) is not reachable, as on the development
machines, whose package mirror serves packages but not advisories, that part
is reported as skipped, and only that part.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def bandit() -> bool:
    result = subprocess.run(
        [
            VENV_BIN / "bandit",
            "-q",
            "-r",
            "gateway",
            "payments",
            "stripe_integration",
            "otp",
            "-x",
            "*/tests/*,*/migrations/*",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    print(result.stdout.strip() or "bandit: no issues")
    return result.returncode == 0


def pip_audit() -> bool:
    result = subprocess.run(
        [
            VENV_BIN / "pip-audit",
            "-r",
            "requirements/base.txt",
            "-r",
            "requirements/mysql.txt",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit: skipped, it could not run: {result.stderr.strip()[-300:]}")
        return True
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        print(f"pip-audit: {dep['name']} {dep['version']}: {ids}")
    if not audited:
        print(
            f"pip-audit: skipped, advisory data not reachable (none of {len(deps)} pinned "
            "dependencies could be looked up)"
        )
        return True
    print(f"pip-audit: {len(audited)} of {len(deps)} dependencies audited, {len(vulnerable)} vulnerable")
    return not vulnerable


if __name__ == "__main__":
    ok = bandit() & pip_audit()
    sys.exit(0 if ok else 1)
