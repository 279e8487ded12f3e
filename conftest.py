"""Shared fixtures for the whole suite.

Tests run against real services (MariaDB, Redis, Kafka, localstripe) that
`make services` starts. A test that needs a service it cannot reach fails with
a message saying how to start it; it never skips. With REQUIRE_SERVICES=1
(set by `make test` and CI) the run also fails at once unless it is configured
for the real services, so a green run cannot quietly be a SQLite run.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parent
# API clients, keys and payment helpers shared by every app's tests; the real
# services' fixtures (each fails, never skips, when its service is missing).
pytest_plugins = ["payments.tests.fixtures", "gateway.tests.service_fixtures"]
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config):
    if not REQUIRE_SERVICES:
        return
    missing = [
        name
        for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "STRIPE_API_BASE")
        if not os.environ.get(name)
    ]
    if missing or not os.environ["DATABASE_URL"].startswith("mysql://"):
        raise pytest.UsageError(
            f"REQUIRE_SERVICES=1 but the environment does not point at the real services "
            f"(missing: {missing or 'a mysql:// DATABASE_URL'}). Run `make test`."
        )


@pytest.fixture(scope="session", autouse=True)
def _empty_test_broker():
    """Tasks enqueued by earlier runs (nothing consumes the test broker between
    runs) must not reach the worker a test starts."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("redis://"):
        import redis

        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1).flushdb()
        except redis.RedisError:
            pass  # the tests that need Redis fail on their own, with a clear message


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (Redis db 2 under `make test`), as
    it would with the local-memory cache: no rate-limit counter, OTP or queued
    outbox mark left by an earlier test."""
    from django.core.cache import cache

    try:
        cache.clear()
    except Exception:
        return  # Redis is down: the tests that need it say so themselves


# Limits far above what any test sends, so that no test depends on how fast the
# machine is (a burst on a fast machine once tripped the default 100/s). The
# rate-limit tests set their own small limits on top of these.
GENEROUS_RATE_LIMIT = "100000/s"
_RATE_LIMIT_VARIABLES = (
    "RATE_LIMIT_DEFAULT",
    "RATE_LIMIT_VALIDATE_CARD",
    "RATE_LIMIT_OTP_SEND",
    "RATE_LIMIT_OTP_VALIDATE",
    "RATE_LIMIT_WEBHOOK_INVALID",
    "RATE_LIMIT_PSP_READ",
    "RATE_LIMIT_HEALTH_READY",
    "RATE_LIMIT_PAYMENT_PAGE",
    "RATE_LIMIT_UNAUTHENTICATED",
)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Operators' passwords hashed cheaply in tests: PBKDF2's million rounds
    cost ~0.3 s per user made and per login, which is not what any test checks."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _generous_rate_limits(settings):
    settings.RATE_LIMITS = {name: GENEROUS_RATE_LIMIT for name in settings.RATE_LIMITS}


def staff_login(client, user, *, verified_seconds_ago: int = 0):
    """Signs `user` in on a test Client as the back office requires: a password
    session that has passed a second factor (gateway.mfa), here an authenticator
    app made for the test, checked `verified_seconds_ago`."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test app", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session["mfa_verified_at"] = int(time.time()) - verified_seconds_ago
    session.save()
    return client


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's admin_client, past the second factor."""
    return staff_login(client, admin_user)


@pytest.fixture
def fail_once(monkeypatch):
    """Fault injection, in tests only: `fail_once("module.function")` makes that
    function raise once (OperationalError, as a database failing mid-request
    would), on its n-th call (`on_call`), then behave again. It patches the name
    in the module where callers look it up, for this test only; production code
    has no hook for it. Returns a dict whose "calls" and "fired" the test can check."""
    import functools
    import importlib

    from django.db import OperationalError

    def arm(target: str, *, on_call: int = 1, exc: Exception | None = None) -> dict:
        module_name, name = target.rsplit(".", 1)
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        state = {"calls": 0, "fired": False}

        @functools.wraps(original)
        def failing(*args, **kwargs):
            state["calls"] += 1
            if state["calls"] == on_call:
                state["fired"] = True
                raise exc or OperationalError(f"fault injected into {target}")
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, failing)
        return state

    return arm


def service_unavailable(name: str, detail: str) -> None:
    pytest.fail(
        f"{name} is not reachable ({detail}). Start the services with `make services`.", pytrace=False
    )


def free_closed_port() -> int:
    """A loopback port with nothing listening on it: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    return free_closed_port()


def database_url_of(settings_dict: dict) -> str:
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = urllib.parse.quote(settings_dict["USER"])
    password = urllib.parse.quote(settings_dict["PASSWORD"])
    return (
        f"mysql://{user}:{password}@{settings_dict['HOST']}:{settings_dict['PORT'] or 3306}/"
        f"{settings_dict['NAME']}"
    )


@contextlib.contextmanager
def celery_worker_running(*, name: str, args: tuple[str, ...] = (), env: dict | None = None):
    """A real Celery worker process on the test database; yields its node name.
    `args` adds worker options (-Q to pick queues); `env` overrides variables
    (CELERY_BROKER_URL for a broker of its own)."""
    from celery import Celery
    from django.db import connection

    overrides = env or {}
    env = dict(os.environ, DATABASE_URL=database_url_of(connection.settings_dict), **overrides)

    def ping(node: str) -> list:
        # Through the worker's own broker. Celery reads CELERY_BROKER_URL from the
        # environment before any configuration, so the variable is what picks it.
        with mock.patch.dict(os.environ, {"CELERY_BROKER_URL": env["CELERY_BROKER_URL"]}):
            try:
                return Celery("ping", set_as_current=False).control.ping(destination=[node], timeout=0.5)
            except Exception:  # noqa: BLE001  a connection from before a Redis restart (a fault test): ask again
                return []

    hostname = f"{name}-{os.getpid()}@%h"
    log_path = ROOT / ".services" / "logs" / f"pytest-celery-{name}-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gateway",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            f"--hostname={hostname}",
            "--without-gossip",
            "--without-mingle",
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    expected = hostname.replace("%h", socket.gethostname())
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")[-2000:]
                service_unavailable("Celery worker", f"it exited with {process.returncode}: {output}")
            if ping(expected):
                break
        else:
            service_unavailable("Celery worker", "it did not answer a ping within 30 s")
        yield expected
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


@contextlib.contextmanager
def outbox_relay_running(*, shards: tuple[int, ...] = (), env: dict | None = None):
    """A real relay process (`manage.py outbox_relay [--shard K]...`) on the
    test database; yields the Popen once it says it relays. Stopped with
    SIGTERM, as supervisord and Kubernetes stop it: it must exit 0 within 15 s."""
    from django.db import connection

    env = dict(os.environ, DATABASE_URL=database_url_of(connection.settings_dict), **(env or {}))
    name = "-".join(map(str, shards)) or "all"
    log_path = ROOT / ".services" / "logs" / f"pytest-relay-{name}-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [arg for shard in shards for arg in ("--shard", str(shard))]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "outbox_relay", *args],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "relaying shard" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                service_unavailable("outbox relay", log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                raise


def stripe_signature(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, by Stripe's documented scheme:
    v1 = HMAC-SHA256(secret, "<t>.<payload>"), over the exact bytes sent."""
    import hashlib
    import hmac

    timestamp = timestamp or int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def services_command(command: str) -> None:
    """scripts/services.sh <command>: the fault tests stop and start real services with it."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/services.sh"), command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def load_script(name: str):
    """Imports scripts/<name>.py (the scripts directory is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def server_start(**env_overrides: str) -> tuple[subprocess.Popen, str]:
    """Starts the gateway under its server, as configured for production
    (gateway/server.py, Granian), on the test database and a free port, and
    waits until it answers. Returns the process and its base URL; the caller
    stops it."""
    import requests
    from django.db import connection

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(
        os.environ,
        DATABASE_URL=database_url_of(connection.settings_dict),
        SERVER_PORT=str(port),
        WEB_WORKERS="1",
        **{name: GENEROUS_RATE_LIMIT for name in _RATE_LIMIT_VARIABLES},
    )
    env.update(env_overrides)
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway.server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # until the worker has booted and answers
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                return server, base
        except requests.RequestException:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"the server did not start on {base}")
        time.sleep(0.2)


def wsgi_call(app, path: str, *, method: str = "GET", **environ) -> tuple[str, dict, bytes]:
    """Calls a WSGI application as a server would (the routes in front of
    Django, gateway/wsgi.py): (status line, headers, body), the iterable closed."""
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }
    iterable = app({**base, **environ}, start_response)
    try:
        body = b"".join(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    return answer["status"], answer["headers"], body
