"""Where the settings' values come from: the environment.

A local .env is read here, and an empty variable means "the default". DEBUG and
the process's role are decided here, and the development secrets are named here.
Every variable is read once, in the module of its concern, by django-environ's
`env` or one of the parsing helpers below (gateway/tests/test_settings.py checks
it); required_in_production decides what an unset secret means.
"""

import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local .env file is read when present; variables already set in the
# environment win over it.
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")
# An empty variable (as left by copying .env.example) means "use the default".
for _name in [name for name, value in os.environ.items() if value == ""]:
    del os.environ[_name]

# Production unless told otherwise: a deployment that forgets the variable
# fails closed. Development (`make run`, tests, `make services`) sets it explicitly.
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# The development values of the secrets: never accepted with a live Stripe key,
# nor (the OTP secret) in production at all.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-do-not-deploy"  # noqa: S105  # nosec B105 (development only; refused in production)
DEVELOPMENT_WEBHOOK_SECRET = "whsec_localdevelopment"  # noqa: S105  # nosec B105 (development only; refused with a live key)


# What this process is (deploy/k8s sets it): web (the default), worker, relay,
# beat or migrate. Production requires only the role's own secrets: the relay,
# beat and migrate run without the Stripe key and the OTP secret.
GATEWAY_ROLE = env.str("GATEWAY_ROLE", default="web").strip().lower()
if GATEWAY_ROLE not in ("web", "worker", "relay", "beat", "migrate"):
    raise ImproperlyConfigured(
        f"GATEWAY_ROLE must be web, worker, relay, beat or migrate, not {GATEWAY_ROLE!r}."
    )
# The processes that call the PSP and send one-time codes (web and worker).
role_uses_psp = GATEWAY_ROLE in ("web", "worker")


def required_in_production(name: str, dev_default: str, *, needed: bool = True) -> str:
    """The value of `name` when the environment leaves it unset: `dev_default` in
    development, nothing where the process does not need it, and in production
    ImproperlyConfigured. (`env.str(name, default="") or required_in_production(...)`:
    the variable itself is read by its one env call.)"""
    if DEBUG:
        return dev_default
    if not needed:
        return ""
    raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG is off (production mode).")


def currency_thresholds(name: str, default: str = "") -> dict[str, int]:
    """ "usd:100000,eur:90000" or "*:100000" (minor units) -> {"usd": 100000, ...}."""
    thresholds = {}
    for item in filter(None, (part.strip() for part in env.str(name, default=default).split(","))):
        currency, _, amount = item.partition(":")
        if not amount.isdigit():
            raise ImproperlyConfigured(f"{name}: {item!r} is not currency:minor_units.")
        thresholds[currency.strip().lower()] = int(amount)
    return thresholds


def seconds_list(name: str, default: str) -> list[int]:
    """ "5,300,1800" -> [5, 300, 1800]."""
    value = env.str(name, default=default)
    if not re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*", value):
        raise ImproperlyConfigured(f"{name} must be comma-separated seconds, not {value!r}.")
    return [int(part) for part in value.split(",")]
