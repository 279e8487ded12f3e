"""gateway.core.process_exit: what a process must do as it ends runs in a plain
process and in a multiprocessing child (Granian's server workers), which
never runs atexit hooks; and no module registers with atexit itself."""

import multiprocessing
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.core.process_exit import process_exit_call

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[3]


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


def _child(path: str) -> None:
    process_exit_call(_write, path, "child")


def test_a_multiprocessing_child_runs_it_where_atexit_does_not(tmp_path):
    import atexit

    skipped = tmp_path / "atexit"
    ran = tmp_path / "ran"
    context = multiprocessing.get_context("fork")

    def child():
        atexit.register(_write, str(skipped), "atexit")
        _child(str(ran))

    process = context.Process(target=child)
    process.start()
    process.join(timeout=30)

    assert process.exitcode == 0
    assert not skipped.exists()  # why the helper exists
    assert ran.read_text() == "child"


def test_a_plain_process_runs_it_at_exit(tmp_path):
    ran = tmp_path / "ran"
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]);"
        "from pathlib import Path;"
        "from gateway.core.process_exit import process_exit_call;"
        "process_exit_call(Path(sys.argv[1]).write_text, 'plain')"
    )
    subprocess.run([sys.executable, "-c", code, str(ran), str(ROOT)], check=True, timeout=60)
    assert ran.read_text() == "plain"


def test_no_module_registers_with_atexit_itself():
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("gateway", "payments", "otp", "stripe_integration")
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and re.search(r"\batexit\.register\(", path.read_text())
    ]
    assert offenders == [], "use gateway.core.process_exit.process_exit_call: Granian's workers skip atexit"
