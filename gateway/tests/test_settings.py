"""Settings come from the environment; production fails fast; defaults are embedded.

Each case runs Django in a fresh interpreter with a controlled environment,
because settings are read once per process.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.fast

# One case of docs/RELIABILITY.md, proven by tests here and in test_settings_production.py.
HARDENED_PRODUCTION = pytest.mark.reliability(
    "Security hardening",
    "Behind a proxy, production refuses to start without RATELIMIT_TRUSTED_PROXIES (the k8s manifests set "
    "them); each role needs only its own secrets (the relay and beat get no Stripe key or OTP secret); any "
    "_live_ key is live; dj-stripe sees only the rk_ sync key; production refuses the console e-mail "
    "backend; Kafka TLS/SASL and Redis AUTH/TLS are settings",
)

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings

print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "cache": settings.CACHES["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "kafka": settings.KAFKA_BROKERS,
    "stripe_base": settings.STRIPE_API_BASE,
    "port": settings.SERVER_PORT,
    "debug": settings.DEBUG,
    "cors": settings.CORS_ALLOWED_ORIGINS,
    "mirror": settings.DJSTRIPE_MIRROR,
}))
"""

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "p9R!x2vQ7z#Lm4sW8tY1uB6nC3kD0eF5gH-jK_lM(oP)qR*sT&uV^wX%yZ",
    "DJANGO_ALLOWED_HOSTS": "pay.example.com",
    "STRIPE_SECRET_KEY": "sk_test_51ExampleExampleExampleExample00",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "OTP_SECRET": "otp-Zq81vN3mW5xR7tY9uB2cD4eF6gH8jK0lM",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": "mysql://gateway:secret@127.0.0.1:3306/gateway",
    "EMAIL_URL": "smtp://mail.example.com:587",
}
DEVELOPMENT = {"DJANGO_DEBUG": "true"}


def _run(args, env_overrides):
    # Only the basics of the outer environment: the test suite's own service
    # variables must not leak into the case under test.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(ROOT)),
        "DJANGO_SETTINGS_MODULE": "gateway.settings",
        **env_overrides,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _settings_module(env) -> dict:
    """gateway.settings imported afresh in this process under `env` alone, its
    namespace: the checks that stop start-up are the package's own, and an
    interpreter per case cost about 1.5 s each. (Cases that need Django set up
    still use _run.) The modules loaded before are put back afterwards, so that
    nothing else in the process sees the probe's settings."""
    import importlib
    from unittest import mock

    import gateway

    def loaded():
        return {
            name: module
            for name, module in sys.modules.items()
            if name.split(".")[:2] == ["gateway", "settings"]
        }

    before, attribute = loaded(), getattr(gateway, "settings", None)
    full = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(ROOT)), **env}
    try:
        for name in before:
            del sys.modules[name]
        with mock.patch.dict(os.environ, full, clear=True):
            return vars(importlib.import_module("gateway.settings"))
    finally:
        for name in loaded():
            del sys.modules[name]
        sys.modules.update(before)
        if attribute is None:
            vars(gateway).pop("settings", None)
        else:
            gateway.settings = attribute


def _run_settings(env):
    """As _run(PRINT_SETTINGS) answers, in this process: a refusal's message in stderr."""
    from types import SimpleNamespace

    try:
        _settings_module(env)
    except Exception as exc:  # ImproperlyConfigured, or the error start-up would print
        return SimpleNamespace(returncode=1, stdout="", stderr=f"{type(exc).__name__}: {exc}")
    return SimpleNamespace(returncode=0, stdout="", stderr="")


def _settings_with(env):
    module = _settings_module(env)
    return {
        "engine": module["DATABASES"]["default"]["ENGINE"],
        "name": str(module["DATABASES"]["default"]["NAME"]),
        "cache": module["CACHES"]["default"]["BACKEND"],
        "eager": module["CELERY_TASK_ALWAYS_EAGER"],
        "kafka": module["KAFKA_BROKERS"],
        "stripe_base": module["STRIPE_API_BASE"],
        "port": module["SERVER_PORT"],
        "debug": module["DEBUG"],
        "cors": module["CORS_ALLOWED_ORIGINS"],
        "mirror": module["DJSTRIPE_MIRROR"],
    }


@pytest.mark.reliability(
    "Security hardening",
    "Production by default; a live key with DEBUG, the development SECRET_KEY or webhook secret, or "
    "LOCALSTRIPE_QUIRKS stops start-up; production refuses a missing or borrowed OTP secret",
)
def test_with_nothing_set_it_is_production_and_refuses_to_start_without_secrets():
    result = _run(["-c", PRINT_SETTINGS], {})  # a real interpreter, end to end

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_in_development_mode_the_embedded_defaults_are_used():
    values = _settings_with(DEVELOPMENT)

    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(ROOT / "db.sqlite3")
    assert values["cache"].endswith("LocMemCache")
    assert values["eager"] is True
    assert values["kafka"] == []
    assert values["stripe_base"] == "http://127.0.0.1:8420"
    assert values["port"] == 8085
    assert values["cors"] == []


def test_environment_variables_choose_the_real_services():
    values = _settings_with(
        {
            **DEVELOPMENT,
            "DATABASE_URL": "mysql://u:p@127.0.0.1:3306/gw",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "KAFKA_BROKERS": "k1:9092,k2:9092",
            "SERVER_PORT": "9000",
        }
    )

    assert values["engine"] == "django.db.backends.mysql"
    assert values["cache"] == "django_redis.cache.RedisCache"
    assert values["eager"] is False
    assert values["kafka"] == ["k1:9092", "k2:9092"]
    assert values["port"] == 9000


def test_a_stripe_key_without_an_api_base_means_real_stripe():
    values = _settings_with({**DEVELOPMENT, "STRIPE_SECRET_KEY": "sk_test_51ExampleExampleExampleExample00"})

    assert values["stripe_base"] == ""


def test_production_without_a_secret_key_stops_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}

    result = _run_settings(env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_without_a_stripe_key_stops_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION.items() if k != "STRIPE_SECRET_KEY"}

    result = _run_settings(env)

    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY must be set" in result.stderr


LIVE_KEY = "sk_live_51ExampleExampleExampleExample00"


@pytest.mark.reliability(
    "Security hardening",
    "Production by default; a live key with DEBUG, the development SECRET_KEY or webhook secret, or "
    "LOCALSTRIPE_QUIRKS stops start-up; production refuses a missing or borrowed OTP secret",
)
def test_a_live_key_with_any_development_setting_stops_start_up():
    cases = {
        "DJANGO_DEBUG is on": {**PRODUCTION, "STRIPE_SECRET_KEY": LIVE_KEY, "DJANGO_DEBUG": "true"},
        "the development key": {
            **PRODUCTION,
            "STRIPE_SECRET_KEY": LIVE_KEY,
            "DJANGO_SECRET_KEY": "django-insecure-development-only-key-do-not-deploy",
        },
        "the development secret": {
            **PRODUCTION,
            "STRIPE_SECRET_KEY": LIVE_KEY,
            "STRIPE_WEBHOOK_SECRET": "whsec_localdevelopment",
        },
        "LOCALSTRIPE_QUIRKS is on": {
            **PRODUCTION,
            "STRIPE_SECRET_KEY": LIVE_KEY,
            "LOCALSTRIPE_QUIRKS": "true",
        },
    }
    for expected, env in cases.items():
        result = _run_settings(env)
        assert result.returncode != 0, expected
        assert "sk_live" in result.stderr and expected in result.stderr, result.stderr[-500:]
    assert _settings_with({**PRODUCTION, "STRIPE_SECRET_KEY": LIVE_KEY})["debug"] is False


@pytest.mark.reliability(
    "Security hardening",
    "Production by default; a live key with DEBUG, the development SECRET_KEY or webhook secret, or "
    "LOCALSTRIPE_QUIRKS stops start-up; production refuses a missing or borrowed OTP secret",
)
def test_production_refuses_a_missing_or_borrowed_otp_secret():
    missing = _run_settings({k: v for k, v in PRODUCTION.items() if k != "OTP_SECRET"})
    borrowed = _run_settings({**PRODUCTION, "OTP_SECRET": PRODUCTION["DJANGO_SECRET_KEY"]})
    development = _run(
        ["-c", PRINT_SETTINGS],
        {**PRODUCTION, "OTP_SECRET": "django-insecure-development-only-key-do-not-deploy"},
    )

    for result in (missing, borrowed, development):
        assert result.returncode != 0
        assert "OTP_SECRET must be set" in result.stderr


@pytest.mark.reliability(
    "Security hardening",
    "Production refuses the per-process cache (no REDIS_URL) and SQLite",
)
def test_production_refuses_the_embedded_cache_and_sqlite():
    without_redis = _run_settings({k: v for k, v in PRODUCTION.items() if k != "REDIS_URL"})
    on_sqlite = _run_settings({**PRODUCTION, "DATABASE_URL": "sqlite:////tmp/gateway.sqlite3"})

    assert without_redis.returncode != 0 and "REDIS_URL must be set" in without_redis.stderr
    assert on_sqlite.returncode != 0 and "not SQLite" in on_sqlite.stderr


def test_the_djstripe_mirror_is_lazy_by_default_and_reads_its_earlier_true_and_false():
    assert _settings_with(DEVELOPMENT)["mirror"] == "lazy"
    assert _settings_with({**DEVELOPMENT, "DJSTRIPE_MIRROR": "true"})["mirror"] == "batch"
    assert _settings_with({**DEVELOPMENT, "DJSTRIPE_MIRROR": "Batch"})["mirror"] == "batch"
    assert _settings_with({**DEVELOPMENT, "DJSTRIPE_MIRROR": "false"})["mirror"] == "off"
    assert _settings_with({**DEVELOPMENT, "DJSTRIPE_MIRROR": "yes"})["mirror"] == "batch"

    wrong = _run_settings({**DEVELOPMENT, "DJSTRIPE_MIRROR": "sometimes"})
    assert wrong.returncode != 0
    assert "DJSTRIPE_MIRROR must be lazy, batch or off" in wrong.stderr


def _values(env, *names):
    module = _settings_module(env)
    return json.loads(json.dumps({name: module[name] for name in names}))


def _refused(env, message):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as refused:
        _settings_module(env)
    assert message in str(refused.value)


@HARDENED_PRODUCTION
def test_any_live_key_is_live_for_the_live_mode_guards():
    restricted_live = "rk_live_51ExampleExampleExampleExample00"
    _refused(
        {**PRODUCTION, "STRIPE_SECRET_KEY": restricted_live, "DJANGO_DEBUG": "true"}, "DJANGO_DEBUG is on"
    )
    _refused(
        {**PRODUCTION, "DJSTRIPE_SYNC_KEY": restricted_live, "LOCALSTRIPE_QUIRKS": "true"},
        "LOCALSTRIPE_QUIRKS",
    )
    assert _values({**PRODUCTION, "DJSTRIPE_SYNC_KEY": restricted_live}, "STRIPE_LIVE_MODE")[
        "STRIPE_LIVE_MODE"
    ]


@HARDENED_PRODUCTION
def test_djstripe_never_sees_the_secret_key():
    _refused(
        {**PRODUCTION, "DJSTRIPE_SYNC_KEY": "sk_test_51AnotherSecretKeyExample000"}, "restricted read-only"
    )
    _refused({**PRODUCTION, "DJSTRIPE_SYNC_KEY": LIVE_KEY}, "restricted read-only")
    names = ("STRIPE_TEST_SECRET_KEY", "STRIPE_LIVE_SECRET_KEY")
    with_sync = _values({**PRODUCTION, "DJSTRIPE_SYNC_KEY": "rk_test_51ReadOnlyExample0000000000"}, *names)
    without = _values(PRODUCTION, *names)
    development = _values(DEVELOPMENT, *names, "STRIPE_SECRET_KEY")

    assert with_sync == {
        "STRIPE_TEST_SECRET_KEY": "rk_test_51ReadOnlyExample0000000000",
        "STRIPE_LIVE_SECRET_KEY": "",
    }
    assert without == {"STRIPE_TEST_SECRET_KEY": "", "STRIPE_LIVE_SECRET_KEY": ""}
    assert development["STRIPE_SECRET_KEY"] not in (development["STRIPE_TEST_SECRET_KEY"], "")
