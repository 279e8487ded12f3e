"""The whole dependency tree is locked with hashes (requirements/lock/, `make lock`),
and the lock agrees with what requirements/*.txt ask for."""

import re

import pytest

from conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)")


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")] = match.group(2)
    return pins


def _entries(path) -> list[str]:
    """Each requirement of a lock file, with its continuation lines."""
    text = path.read_text()
    return [block for block in re.split(r"\n(?=\S)", text) if PIN.match(block)]


@pytest.mark.reliability(
    "Security hardening",
    "The whole dependency tree is locked with hashes and installed with --require-hashes",
)
@pytest.mark.parametrize("name", ["base", "dev", "run", "mysql", "tools"])
def test_every_locked_package_has_a_hash_and_every_direct_pin_is_locked(name):
    lock = ROOT / "requirements" / "lock" / f"{name}.txt"
    entries = _entries(lock)
    wanted = _pins(ROOT / "requirements" / f"{name}.txt")
    if name in ("dev", "run"):  # each includes the runtime (dev through run.txt)
        wanted |= _pins(ROOT / "requirements" / "base.txt")
    if name == "dev":
        wanted |= _pins(ROOT / "requirements" / "run.txt")
    locked = _pins(lock)

    assert entries and all("--hash=sha256:" in entry for entry in entries)
    assert {package: locked.get(package) for package in wanted} == wanted
    if name not in ("mysql", "tools"):  # mysqlclient and uv have no dependencies
        assert len(locked) > len(wanted)  # transitive packages are pinned too


@pytest.mark.reliability(
    "Security hardening",
    "The whole dependency tree is locked with hashes and installed with --require-hashes",
)
def test_the_dev_lock_agrees_with_the_runtime_lock():
    base = _pins(ROOT / "requirements" / "lock" / "base.txt")
    dev = _pins(ROOT / "requirements" / "lock" / "dev.txt")

    assert {package: dev.get(package) for package in base} == base


def test_make_run_s_lock_is_the_dev_lock_s_subset():
    """make run installs requirements/lock/run.txt, make test the dev lock: the
    same versions, so that one venv serves both."""
    run = _pins(ROOT / "requirements" / "lock" / "run.txt")
    dev = _pins(ROOT / "requirements" / "lock" / "dev.txt")

    assert {package: dev.get(package) for package in run} == run
