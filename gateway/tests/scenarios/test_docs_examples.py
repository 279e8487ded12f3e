"""The curl examples of the README and docs/ run, as written, against the stack
`make run` serves (scripts/run.sh: SQLite, local-memory cache, eager Celery,
localstripe), and answer what the docs say they answer.

How a document marks what an example answers: the line after a `curl` command
is a comment `# → STATUS [Header: value] {json}`. The JSON is a subset of the
answer: every key given must be there with that value ("…" means any value,
"<int>", "<string>", "<object>" or "<list>" any value of that type; objects
and lists are compared the same way, inside). Every `curl` of a
```bash block needs one, so no example goes unchecked.

The blocks of one document run in order in one bash process, as a reader would
paste them: the variables of one block reach the next. What is substituted:
the port (127.0.0.1:8085), the demo key (`KEY=gw_…`), and the one-time code
(`OTP=…`, read from the e-mail make run prints on its console, as a reader
would). Nothing else: an example that only works when edited fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import ROOT

FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
EXPECT = re.compile(r"^\s*#\s*→\s*(\d{3})(?:\s+\[([^\]]+)\])?(?:\s+(\{.*\}))?\s*$")
ANY = "…"
# Kept between runs, like the test database: dj-stripe's migrations take ~50 s of
# CPU on a new SQLite file (docs/operations.md says why); a fresh clone pays it once.
STATE = ROOT / ".test-artifacts" / "docs-examples"


@dataclass
class Expectation:
    document: str
    line: int
    status: int
    header: tuple[str, str] | None
    body: dict | None


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _runnable_blocks(text: str) -> list[tuple[int, str]]:
    """The ```bash blocks that call curl, with the line each starts on."""
    blocks = []
    for match in FENCE.finditer(text):
        if re.search(r"(^|\s|\()curl\s", match.group(1)):
            blocks.append((text.count("\n", 0, match.start(1)) + 1, match.group(1)))
    return blocks


def _expectations(name: str, blocks) -> list[Expectation]:
    found = []
    for first_line, block in blocks:
        for offset, line in enumerate(block.splitlines()):
            match = EXPECT.match(line)
            if not match:
                continue
            header = None
            if match.group(2):
                key, _, value = match.group(2).partition(":")
                header = (key.strip(), value.strip())
            body = json.loads(match.group(3)) if match.group(3) else None
            found.append(Expectation(name, first_line + offset, int(match.group(1)), header, body))
    return found


def _curl_count(blocks) -> int:
    return sum(len(re.findall(r"(?:^|\s|\()curl\s", block)) for _, block in blocks)


TYPES = {"<int>": int, "<string>": str, "<object>": dict, "<list>": list}


def _matches(expected, actual) -> bool:
    if expected == ANY:
        return actual is not None
    if isinstance(expected, str) and expected in TYPES:
        return isinstance(actual, TYPES[expected]) and not isinstance(actual, bool)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) >= len(expected)
            and all(_matches(e, a) for e, a in zip(expected, actual, strict=False))
        )
    return expected == actual


PREAMBLE = r"""
set -euo pipefail
# Every curl of the examples goes through here: its headers and body are kept
# for the test to compare, and the body still goes to stdout as the reader sees it.
curl() {
  local n
  n=$(( $(cat "$__DIR/count") + 1 )); echo "$n" >"$__DIR/count"
  command curl -sS --max-time 60 -D "$__DIR/$n.head" -o "$__DIR/$n.body" "$@"
  cat "$__DIR/$n.body"; echo
}
# The code in the last e-mail make run printed on its console.
__console_otp() {
  for _ in $(seq 1 50); do
    code=$(grep -ao 'Your verification code is [0-9]\{6\}' "$__CONSOLE" | tail -n 1 \
      | grep -o '[0-9]\{6\}$' || true)
    [ -n "$code" ] && { echo "$code"; return; }
    sleep 0.1
  done
  echo "no code on make run's console" >&2; return 1
}
"""


def _script(blocks, port: int, key: str) -> str:
    body = "\n".join(block for _, block in blocks)
    body = body.replace("127.0.0.1:8085", f"127.0.0.1:{port}")
    body = re.sub(r"^KEY=gw_.*$", f"KEY='{key}'", body, flags=re.M)
    body = re.sub(r"^OTP=.*$", "OTP=$(__console_otp)", body, flags=re.M)
    return PREAMBLE + body


def _answers(directory: Path) -> list[tuple[int, dict, object]]:
    answers = []
    for n in range(1, int((directory / "count").read_text()) + 1):
        head = (directory / f"{n}.head").read_text()
        # After a `100 Continue`, the last status line is the answer's.
        status_line = [line for line in head.splitlines() if line.startswith("HTTP/")][-1]
        headers = {}
        for line in head.split(status_line, 1)[1].splitlines()[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = (directory / f"{n}.body").read_text()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        answers.append((int(status_line.split()[1]), headers, body))
    return answers


@pytest.fixture(scope="module")
def make_run_stack(tmp_path_factory):
    """scripts/run.sh, as `make run` starts it, on a free port: its own SQLite
    file, no Redis, no Kafka, eager Celery; the localstripe `make services`
    started (run.sh reuses ours). Yields (port, demo key, console log)."""
    if not shutil.which("curl"):
        pytest.fail("curl is needed to run the docs' examples")
    STATE.mkdir(parents=True, exist_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # make run's own defaults, not the environment `make test` runs in.
    services = set(re.findall(r"^([A-Z_]+)=", (ROOT / "scripts/services.env").read_text(), re.M))
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in services | {"DJANGO_SETTINGS_MODULE", "REQUIRE_SERVICES", "DJSTRIPE_MIRROR"}
        and not name.startswith(("RATE_LIMIT_", "PYTEST_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{STATE / 'db.sqlite3'}",
        SERVER_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    run_dir = tmp_path_factory.mktemp("make-run")
    console = run_dir / "console.log"
    env["RUN_DIR"] = str(run_dir)  # not the developer's .services/run
    with console.open("wb") as out:
        server = subprocess.Popen(
            ["bash", str(ROOT / "scripts/run.sh")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240  # a first migration of a new SQLite file is slow
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make run's stack did not start:\n{console.read_text()[-3000:]}")
            time.sleep(0.5)
        key = re.search(r"^\s+(gw_\S+)\s*$", console.read_text(), re.M).group(1)
        yield port, key, console, run_dir
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    # Stopped, make run takes its webhook registration away from the shared stand-in.
    assert f"we_localgateway_{port}" not in _localstripe_webhooks()


def _localstripe_webhooks() -> list[str]:
    from django.conf import settings

    return requests.get(f"{settings.STRIPE_API_BASE}/_config/webhooks", timeout=5).json()["ids"]


def test_make_run_registers_a_webhook_of_its_own(make_run_stack):
    """One per port: the stand-in delivers to make run and to the suite's own
    gateway alike, and make run replaces nobody's registration."""
    port = make_run_stack[0]
    assert f"we_localgateway_{port}" in _localstripe_webhooks()


DOCUMENTS = [(path, _runnable_blocks(path.read_text())) for path in _documents()]
RUNNABLE = [(path, blocks) for path, blocks in DOCUMENTS if blocks]


def test_the_docs_have_examples_of_every_kind_of_call():
    """Not vacuous: the examples cover the calls a merchant makes first."""
    text = "\n".join(block for _, blocks in RUNNABLE for _, block in blocks)
    for path in (
        "/payments/process",
        "/status",
        "/refund",
        "/events",
        "/capture",
        "/cancel",
        "/confirm",
        "/payments/validate",
        "/stripe/validate-card",
        "/stripe/payment",
        "/_authenticate",
        "/health",
    ):
        assert path in text, f"no runnable example calls {path}"


@pytest.mark.parametrize(
    "document, blocks", RUNNABLE, ids=[str(path.relative_to(ROOT)) for path, _ in RUNNABLE]
)
def test_every_curl_example_answers_what_the_doc_says(document, blocks, make_run_stack, tmp_path):
    port, key, console, _ = make_run_stack
    name = str(document.relative_to(ROOT))
    expectations = _expectations(name, blocks)
    assert len(expectations) == _curl_count(blocks), (
        f"{name}: every curl example needs a `# → STATUS {{json}}` line after it"
    )
    (tmp_path / "count").write_text("0")
    result = subprocess.run(
        ["bash", "-c", _script(blocks, port, key)],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "__DIR": str(tmp_path),
            "__CONSOLE": str(console),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    answers = _answers(tmp_path)
    assert result.returncode == 0, f"{name}: the examples stopped:\n{result.stderr[-2000:]}"
    assert len(answers) == len(expectations), (
        f"{name}: ran {len(answers)} curls, documents {len(expectations)}"
    )
    wrong = []
    for expected, (status, headers, body) in zip(expectations, answers, strict=True):
        ok = status == expected.status
        if expected.header:
            ok = ok and headers.get(expected.header[0].lower()) == expected.header[1]
        if expected.body is not None:
            ok = ok and _matches(expected.body, body)
        if not ok:
            wrong.append(
                f"{name}:{expected.line}: documented {expected.status} {expected.body}, got {status} {body}"
            )
    assert wrong == []
    # Card data in an example never reaches make run's console (its log).
    assert "4242424242424242" not in console.read_text()


def test_make_manage_reaches_make_runs_database(make_run_stack):
    """A command next to make run sees make run's settings (scripts/manage.sh):
    here, its SQLite file, where the demo key lives, and not the test database
    of this environment."""
    port, key, console, run_dir = make_run_stack
    prefix = key.split("_")[1]
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/manage.sh"), "list_api_clients"],
        cwd=ROOT,
        env={**os.environ, "RUN_DIR": str(run_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "running make run" in result.stderr
    assert prefix in result.stdout
