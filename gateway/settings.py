"""Settings for the payment gateway.

Every knob comes from the environment (see .env.example, which documents each
variable). Production is the default: DEBUG is off unless DJANGO_DEBUG says
otherwise, and a missing or development secret stops start-up with
ImproperlyConfigured instead of falling back silently. With DJANGO_DEBUG=true
(`make run`, `make test` and `make services` set it), the project runs on the
embedded defaults: SQLite, local-memory cache, eager Celery, Kafka off and
localstripe as the PSP.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file is read when present; variables already set in the
# environment win over it.
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")
# An empty variable (as left by copying .env.example) means "use the default".
for _name in [name for name, value in os.environ.items() if value == ""]:
    del os.environ[_name]

VERSION = "0.1.0"
SERVICE_NAME = "payment-gateway"

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
_ROLE_USES_PSP = GATEWAY_ROLE in ("web", "worker")


def _required_in_production(name: str, dev_default: str, *, needed: bool = True) -> str:
    """The value of `name` when the environment leaves it unset: `dev_default` in
    development, nothing where the process does not need it, and in production
    ImproperlyConfigured. (`env.str(name, default="") or _required_in_production(...)`:
    the variable itself is read by its one env call.)"""
    if DEBUG:
        return dev_default
    if not needed:
        return ""
    raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG is off (production mode).")


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _required_in_production(
    "DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY
)
# Earlier values of DJANGO_SECRET_KEY, comma-separated, while it is rotated:
# sessions, signed values and Idempotency-Key fingerprints made under them stay valid.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")

SERVER_PORT = env.int("SERVER_PORT", default=8085)

INSTALLED_APPS = [
    "gateway.apps.GatewayAdminConfig",  # django.contrib.admin with the back-office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djstripe",
    "django_ratelimit",
    "django_prometheus",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "gateway.core",
    "gateway.events",
    "gateway.mfa",
    "payments",
    "payments.webhooks",
    "stripe_integration",
    "otp",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "gateway.core.middleware.RequestIdMiddleware",
    "gateway.events.middleware.OutboxPublishDeferredMiddleware",
    "gateway.core.middleware.ContentTypeCharsetMiddleware",
    "gateway.core.timing.ServerTimingMiddleware",
    "gateway.core.ratelimit.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(); then no admin page without a second factor.
    "django_otp.middleware.OTPMiddleware",
    "gateway.mfa.middleware.AdminMfaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# sqlite:///… is the embedded default (a file at the repository root, so that
# `manage.py` with no variables works on the database `make run` serves);
# mysql://… is the real one.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            # READ COMMITTED keeps select_for_update() from taking gap locks
            # that deadlock concurrent inserts.
            "isolation_level": "read committed",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let gunicorn's threads (and the eager-task
    # thread) write without "database is locked" errors on the embedded default.
    # Connections are kept per thread like MariaDB's: opening one (and its
    # PRAGMAs) on every request cost more than the request's own queries.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ------------------------------------------------------------
# redis://[:password@]host:6379/0, or rediss:// for TLS (Redis AUTH and TLS):
# the CA bundle to check the server with (empty: the system's).
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SSL_CA_CERTS = env.str("REDIS_SSL_CA_CERTS", default="")
_REDIS_TLS = {
    "ssl_cert_reqs": "required",
    **({"ssl_ca_certs": REDIS_SSL_CA_CERTS} if REDIS_SSL_CA_CERTS else {}),
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # JSON, never pickle: what Redis holds is data, not code to run.
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                **({"CONNECTION_POOL_KWARGS": _REDIS_TLS} if REDIS_URL.startswith("rediss://") else {}),
            },
            "KEY_PREFIX": "gw",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Production never falls back to the embedded defaults: a per-process cache
# would count rate limits per worker and keep a revoked key alive in the other
# workers; SQLite is one file on one host; with no broker nothing would run
# reconciliation or the outbox sweeper.
if not DEBUG and not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DJANGO_DEBUG is off (production mode): rate limits, one-time codes "
        "and the API-key cache must be shared by every process, and Celery needs a broker."
    )
if not DEBUG and _db["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured(
        "DATABASE_URL must name MySQL or MariaDB when DJANGO_DEBUG is off (production mode), not SQLite."
    )

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
if CELERY_BROKER_URL.startswith("rediss://"):
    import ssl

    CELERY_BROKER_USE_SSL = {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        **({"ssl_ca_certs": REDIS_SSL_CA_CERTS} if REDIS_SSL_CA_CERTS else {}),
    }
# With no broker at all, tasks run in-process (eagerly) so nothing needs a worker.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# With eager tasks (no broker): run them on one background thread of the process,
# after the answer, instead of inside the request (gateway/celery.py). make run sets it.
EAGER_TASKS_IN_THREAD = env.bool("EAGER_TASKS_IN_THREAD", default=False)
# ...and these queues' tasks on a thread of their own: a dead merchant's
# webhook (WEBHOOK_TIMEOUT_SECONDS an attempt) does not hold up the others.
EAGER_TASK_OWN_THREAD_QUEUES = ("webhooks",)
# (memory:// with a host name: kombu warns "No hostname was supplied" without one.)
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Three queues, so that no kind of work waits behind another (docs/operations.md):
# - "events": the outbox relay and its sweeper, on a worker of their own, so an
#   event never waits behind a slow task (a 12-minute soak once left it 379 s
#   behind dj-stripe syncs in one shared queue);
# - "djstripe": the dj-stripe mirror, background bookkeeping that may lag;
# - "celery" (the default): work a payer waits for (OTP e-mail, async charges)
#   and the periodic reconciliation;
# - "webhooks": deliveries to merchants' endpoints (payments.webhooks), whose
#   slow or dead receivers hold a task for up to WEBHOOK_TIMEOUT_SECONDS.
# A worker started without -Q consumes all four (CELERY_TASK_QUEUES declares them).
CELERY_QUEUE_DEFAULT = "celery"
CELERY_QUEUE_EVENTS = "events"
CELERY_QUEUE_DJSTRIPE = "djstripe"
CELERY_QUEUE_WEBHOOKS = "webhooks"
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_DEFAULT
CELERY_TASK_QUEUES = tuple(
    Queue(name, routing_key=name)
    for name in (CELERY_QUEUE_DEFAULT, CELERY_QUEUE_EVENTS, CELERY_QUEUE_DJSTRIPE, CELERY_QUEUE_WEBHOOKS)
)
CELERY_TASK_ROUTES = {
    "gateway.events.tasks.outbox_publish_task": {"queue": CELERY_QUEUE_EVENTS},
    "gateway.events.tasks.outbox_sweep_task": {"queue": CELERY_QUEUE_EVENTS},
    "stripe_integration.tasks.djstripe_sync_task": {"queue": CELERY_QUEUE_DJSTRIPE},
    "stripe_integration.tasks.djstripe_sync_pending_task": {"queue": CELERY_QUEUE_DJSTRIPE},
    "stripe_integration.tasks.djstripe_mirror_sweep_task": {"queue": CELERY_QUEUE_DJSTRIPE},
    "payments.webhooks.tasks.webhooks_fan_out_task": {"queue": CELERY_QUEUE_WEBHOOKS},
    "payments.webhooks.tasks.webhook_endpoint_deliver_task": {"queue": CELERY_QUEUE_WEBHOOKS},
    "payments.webhooks.tasks.webhooks_sweep_task": {"queue": CELERY_QUEUE_WEBHOOKS},
}
# Payments stuck in processing are settled from Stripe after this many minutes.
RECONCILE_AFTER_MINUTES = env.int("RECONCILE_AFTER_MINUTES", default=10)

# The dj-stripe mirror runs in batches: changes within this many seconds are
# mirrored by one task, each payment once (stripe_integration/mirror.py).
DJSTRIPE_MIRROR_BATCH_SECONDS = env.int("DJSTRIPE_MIRROR_BATCH_SECONDS", default=2)
# The mirror is bookkeeping for operators, and it was the largest background
# cost of a payment: dj-stripe's sync takes ~25 queries and ~10-24 ms of CPU per
# payment (issue #16, docs/SCALING.md). So it runs on demand by default:
#   lazy   nothing after a change; an operator mirrors payments when wanted (the
#          admin action "Mirror into dj-stripe", `manage.py djstripe_mirror`, or
#          dj-stripe's own `djstripe_sync_models`);
#   batch  after every change, in batches (stripe_integration/mirror.py);
#   off    never, not even on demand.
# (true and false, and the other spellings of this setting's earlier boolean,
# still mean batch and off.)
_MIRROR_MODES = {
    "lazy": "lazy",
    "batch": "batch",
    "off": "off",
    **dict.fromkeys(("true", "1", "yes", "on"), "batch"),
    **dict.fromkeys(("false", "0", "no"), "off"),
}
DJSTRIPE_MIRROR = _MIRROR_MODES.get(env.str("DJSTRIPE_MIRROR", default="lazy").strip().lower(), "")
if not DJSTRIPE_MIRROR:
    raise ImproperlyConfigured("DJSTRIPE_MIRROR must be lazy, batch or off.")

# --- Kafka ----------------------------------------------------------------------
# Comma-separated host:port list, as in the seed. Empty: events wait in the
# outbox and nothing is lost.
KAFKA_BROKERS = env.list("KAFKA_BROKERS", default=[])
KAFKA_TOPICS = {
    "events": env.str("KAFKA_TOPIC_EVENTS", default="payment-events"),
    "success": env.str("KAFKA_TOPIC_SUCCESS", default="payment-success"),
    "failed": env.str("KAFKA_TOPIC_FAILED", default="payment-failed"),
    "refunded": env.str("KAFKA_TOPIC_REFUNDED", default="payment-refunded"),
}
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=3)
KAFKA_REPLICATION_FACTOR = env.int("KAFKA_REPLICATION_FACTOR", default=1)
# Topics created by kafka_create_topics get this min.insync.replicas: with
# acks=all, a write is acknowledged once this many replicas have it (a cluster
# of 3 keeps accepting writes with one broker down, and loses nothing acknowledged).
# Unset: the topic takes the broker's own default.
KAFKA_MIN_INSYNC_REPLICAS = env.int("KAFKA_MIN_INSYNC_REPLICAS", default=None)
# How long one publish may wait for the broker before the outbox keeps the event for later.
KAFKA_REQUEST_TIMEOUT_MS = env.int("KAFKA_REQUEST_TIMEOUT_MS", default=5000)
# TLS and SASL to the brokers (a managed Kafka): PLAINTEXT, SSL, SASL_PLAINTEXT or
# SASL_SSL; PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the CA bundle for SSL (empty:
# the system's). Only the relay and the commands that read Kafka need the credentials.
KAFKA_SECURITY_PROTOCOL = env.str("KAFKA_SECURITY_PROTOCOL", default="PLAINTEXT").strip().upper()
KAFKA_SASL_MECHANISM = env.str("KAFKA_SASL_MECHANISM", default="SCRAM-SHA-512").strip().upper()
KAFKA_SASL_USERNAME = env.str("KAFKA_SASL_USERNAME", default="")
KAFKA_SASL_PASSWORD = env.str("KAFKA_SASL_PASSWORD", default="")
KAFKA_SSL_CAFILE = env.str("KAFKA_SSL_CAFILE", default="")
if KAFKA_SECURITY_PROTOCOL not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
    raise ImproperlyConfigured("KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
if KAFKA_SECURITY_PROTOCOL.startswith("SASL_") and not (KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD):
    raise ImproperlyConfigured(
        f"KAFKA_SECURITY_PROTOCOL={KAFKA_SECURITY_PROTOCOL} needs KAFKA_SASL_USERNAME and _PASSWORD."
    )
# The sweeper publishes what the after-commit task could not, this often.
OUTBOX_SWEEP_SECONDS = env.int("OUTBOX_SWEEP_SECONDS", default=15)
# After a failed publish, after-commit tasks leave the outbox to the sweeper this long.
OUTBOX_BACKOFF_SECONDS = env.int("OUTBOX_BACKOFF_SECONDS", default=10)
# A queued relay task is marked for this long at most (outbox_publish_soon).
OUTBOX_QUEUED_MARK_SECONDS = env.int("OUTBOX_QUEUED_MARK_SECONDS", default=10)
# A relay task starts this long after the commit that asks for it, and the
# commits meanwhile ride on it: one task, with its fixed cost (~5-7 ms of CPU:
# the broker message, a transaction, a Kafka round trip), serves every payment
# of the window instead of one each (issue #16). It adds as much to the event
# delay. 0: at once.
OUTBOX_RELAY_GATHER_MS = env.int("OUTBOX_RELAY_GATHER_MS", default=100)

# --- Webhooks to merchants (payments.webhooks, docs/api.md) -------------------------
# Seconds between attempts of one delivery: attempt n failing schedules attempt
# n+1 after the n-th value; after the last, the delivery is failed (Svix's schedule:
# 8 attempts over about 27 hours).
_retry_schedule = env.str("WEBHOOK_RETRY_SCHEDULE", default="5,300,1800,7200,18000,36000,36000")
if not re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*", _retry_schedule):
    raise ImproperlyConfigured(
        f"WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, not {_retry_schedule!r}."
    )
WEBHOOK_RETRY_SCHEDULE = [int(part) for part in _retry_schedule.split(",")]
# One attempt's time limit, connecting and reading together.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# An endpoint whose every attempt failed for this long is disabled (Svix: 5 days).
WEBHOOK_DISABLE_AFTER_HOURS = env.float("WEBHOOK_DISABLE_AFTER_HOURS", default=120.0)
# The sweeper's period (retries when due, fan-outs an after-commit task missed).
WEBHOOK_SWEEP_SECONDS = env.int("WEBHOOK_SWEEP_SECONDS", default=5)
# http:// and loopback or private addresses as endpoints, for trying webhooks
# locally. Development only; link-local addresses (cloud metadata) never.
WEBHOOK_ALLOW_LOCAL_URLS = env.bool("WEBHOOK_ALLOW_LOCAL_URLS", default=DEBUG)

# --- Stripe / dj-stripe -----------------------------------------------------------
# Real Stripe is used when STRIPE_SECRET_KEY is set and STRIPE_API_BASE is not.
# In development with no key, the gateway talks to localstripe.
LOCALSTRIPE_DEFAULT_BASE = "http://127.0.0.1:8420"
_stripe_key_from_env = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_SECRET_KEY = _stripe_key_from_env or _required_in_production(
    "STRIPE_SECRET_KEY", "sk_test_localstripeDevelopmentKey000000", needed=_ROLE_USES_PSP
)
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="" if _stripe_key_from_env else LOCALSTRIPE_DEFAULT_BASE)
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default=DEVELOPMENT_WEBHOOK_SECRET if DEBUG else "")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# The PSP is localstripe: work around its known differences from Stripe (it
# refuses `description`, a refund's `reason` and `return_url`, which then travel
# in metadata; it registers webhooks through its own /_config route). Named for
# the stand-in and set explicitly (scripts/services.env, scripts/run.sh), never
# guessed from STRIPE_API_BASE: pointed at stripe-mock with this off, the client
# sends exactly what real Stripe receives. On by default only in the embedded
# development default (no STRIPE_SECRET_KEY in the environment).
LOCALSTRIPE_QUIRKS = env.bool("LOCALSTRIPE_QUIRKS", default=not _stripe_key_from_env)

# --- Client-side confirmation and the hosted payment page (docs/api.md) ----------------
# The publishable key (pk_…) answered with `confirm: false` payments and used by
# the hosted page's Stripe.js. Without it, `confirm: false` is refused (503).
STRIPE_PUBLISHABLE_KEY = env.str(
    "STRIPE_PUBLISHABLE_KEY", default="pk_test_localstripeDevelopmentKey000000" if LOCALSTRIPE_QUIRKS else ""
)
# Stripe.js for the hosted page: Stripe's own; localstripe's stand-in with LOCALSTRIPE_QUIRKS.
STRIPE_JS_URL = env.str(
    "STRIPE_JS_URL",
    default=f"{STRIPE_API_BASE.rstrip('/')}/js.stripe.com/v3/"
    if LOCALSTRIPE_QUIRKS
    else "https://js.stripe.com/v3/",
)
# A payment link (/pay/{token}) works this long after the payment's creation, or until its expires_at.
PAYMENT_LINK_SECONDS = env.int("PAYMENT_LINK_SECONDS", default=3600)
# The gateway's public address, for payment_url (https://pay.example.com); empty: the request's own.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
# success_url and cancel_url may be http:// (development only: https in production).
PAYMENT_REDIRECT_ALLOW_HTTP = env.bool("PAYMENT_REDIRECT_ALLOW_HTTP", default=DEBUG)
# Payments past their expires_at are canceled by a sweep this often (beat; run_periodic under make run).
PAYMENT_EXPIRY_SWEEP_SECONDS = env.int("PAYMENT_EXPIRY_SWEEP_SECONDS", default=5)
# Declined cards one payment takes on its hosted page before it refuses more (card testing).
PAYMENT_PAGE_MAX_DECLINES = env.int("PAYMENT_PAGE_MAX_DECLINES", default=5)
# The hosted page's /complete reads a payment from the PSP at most this often.
PAYMENT_PAGE_SYNC_SECONDS = env.int("PAYMENT_PAGE_SYNC_SECONDS", default=2)
# Celery beat: the whole schedule, each period a setting read once above.
CELERY_BEAT_SCHEDULE = {
    "otp-expire-payments": {
        "task": "otp.tasks.otp_expire_payments_task",
        "schedule": 60,
    },
    "outbox-sweep": {
        "task": "gateway.events.tasks.outbox_sweep_task",
        "schedule": OUTBOX_SWEEP_SECONDS,
    },
    "djstripe-mirror-sweep": {
        "task": "stripe_integration.tasks.djstripe_mirror_sweep_task",
        "schedule": 60,
    },
    "stripe-reconcile-stuck": {
        "task": "stripe_integration.tasks.stripe_reconcile_stuck_task",
        "schedule": env.int("RECONCILE_EVERY_SECONDS", default=300),
    },
    # Webhooks to merchants: retries when due, fan-outs an after-commit task missed.
    "webhooks-sweep": {
        "task": "payments.webhooks.tasks.webhooks_sweep_task",
        "schedule": WEBHOOK_SWEEP_SECONDS,
    },
    "payments-expire": {
        "task": "payments.tasks.payments_expire_task",
        "schedule": PAYMENT_EXPIRY_SWEEP_SECONDS,
    },
}
# Stripe keeps an idempotency key for at least 24 hours. Within this many hours
# of a payment's creation, resending its charge with the same key is safe (Stripe
# answers with the first PaymentIntent); past it, reconciliation searches for the
# PaymentIntent by our metadata first and never charges blindly.
PSP_IDEMPOTENCY_WINDOW_HOURS = env.int("PSP_IDEMPOTENCY_WINDOW_HOURS", default=23)
# How far the PSP's search index may lag behind its objects (Stripe: about a
# minute). Reconciliation does not conclude "never charged" from a search
# before a payment has been left alone this long.
PSP_SEARCH_LAG_SECONDS = env.int("PSP_SEARCH_LAG_SECONDS", default=120)


# Any key with "_live_" in it (sk_live_, rk_live_, a sync key too) moves real
# money or reads real data: every live-mode guard below treats it so.
def _live_key(key: str) -> bool:
    return "_live_" in key


# localstripe knows no restricted keys (it takes sk_… only): with
# LOCALSTRIPE_QUIRKS the sync key may be an sk_test_ key of its own, by default
# this one, never STRIPE_SECRET_KEY.
LOCALSTRIPE_SYNC_KEY = "sk_test_localstripeMirrorKey000000000"  # noqa: S105  # nosec B105 (the stand-in's)
DJSTRIPE_SYNC_KEY = env.str("DJSTRIPE_SYNC_KEY", default=LOCALSTRIPE_SYNC_KEY if LOCALSTRIPE_QUIRKS else "")
STRIPE_LIVE_MODE = _live_key(STRIPE_SECRET_KEY) or _live_key(DJSTRIPE_SYNC_KEY)
if STRIPE_LIVE_MODE:
    _unsafe_with_live_money = [
        reason
        for reason, unsafe in (
            ("DJANGO_DEBUG is on", DEBUG),
            ("DJANGO_SECRET_KEY is the development key", SECRET_KEY == DEVELOPMENT_SECRET_KEY),
            (
                "STRIPE_WEBHOOK_SECRET is the development secret",
                STRIPE_WEBHOOK_SECRET == DEVELOPMENT_WEBHOOK_SECRET,
            ),
            ("LOCALSTRIPE_QUIRKS is on", LOCALSTRIPE_QUIRKS),
            ("WEBHOOK_ALLOW_LOCAL_URLS is on", WEBHOOK_ALLOW_LOCAL_URLS),
        )
        if unsafe
    ]
    if _unsafe_with_live_money:
        raise ImproperlyConfigured(
            "A live Stripe key (sk_live_…, rk_live_…) with development settings: "
            + "; ".join(_unsafe_with_live_money)
            + "."
        )
# dj-stripe keeps every API key it syncs with in its djstripe_apikey table, in
# plain text, and reads its keys from these two settings. So dj-stripe never
# sees STRIPE_SECRET_KEY: its settings hold DJSTRIPE_SYNC_KEY, a restricted
# read-only key (rk_…), or nothing (the mirror is then off). No path of
# dj-stripe (djstripe_sync_models, the admin's resync, the mirror) can store
# the secret key.
if DJSTRIPE_SYNC_KEY and not (
    DJSTRIPE_SYNC_KEY.startswith("rk_")
    or (
        LOCALSTRIPE_QUIRKS
        and DJSTRIPE_SYNC_KEY.startswith("sk_test_")
        and DJSTRIPE_SYNC_KEY != STRIPE_SECRET_KEY
    )
):
    raise ImproperlyConfigured(
        "DJSTRIPE_SYNC_KEY must be a restricted read-only key (rk_…), never the secret key "
        "(with LOCALSTRIPE_QUIRKS, an sk_test_ key of its own)."
    )
STRIPE_LIVE_SECRET_KEY = DJSTRIPE_SYNC_KEY if _live_key(DJSTRIPE_SYNC_KEY) else ""
STRIPE_TEST_SECRET_KEY = DJSTRIPE_SYNC_KEY if DJSTRIPE_SYNC_KEY and not _live_key(DJSTRIPE_SYNC_KEY) else ""
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE

# --- REST framework and OpenAPI ----------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gateway.core.auth.ApiKeyRequired"],
    "DEFAULT_PARSER_CLASSES": ["gateway.core.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "gateway.core.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["gateway.core.ratelimit.ClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Payment Gateway API",
    "DESCRIPTION": "Card payments through Stripe, refunds, OTP holds and Kafka events.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page are public; the API itself needs a key.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI's assets come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gateway.core.schema.public_operations_declare_no_security",
        "gateway.core.schema.strict_request_bodies_refuse_extra_fields",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "payments.enums.PaymentStatus",
        "RefundStatusEnum": "payments.enums.RefundStatus",
        "WebhookEndpointStatusEnum": "payments.webhooks.models.EndpointStatus",
    },
}

# --- Rate limits (django-ratelimit; "N/s", "N/m", "N/h"; empty turns one off) ---------------
# Per API client (per IP without a key), counted in the shared cache.
RATE_LIMITS = {
    "default": env.str("RATE_LIMIT_DEFAULT", default="100/s"),
    "validate_card": env.str("RATE_LIMIT_VALIDATE_CARD", default="10/s"),
    "otp_send": env.str("RATE_LIMIT_OTP_SEND", default="20/m"),
    # The one limit of code checks (each code also allows OTP_MAX_ATTEMPTS tries).
    "otp_validate": env.str("RATE_LIMIT_OTP_VALIDATE", default="30/m"),
    # Stripe's deliveries, per sending IP: generous (Stripe bursts and retries), but
    # every delivery, valid or not, is stored, so it is not unlimited.
    # GET /stripe/payment/{id} calls on to the PSP (only for a payment whose
    # outcome can still change there), per client: Stripe's read limit is the platform's.
    "psp_read": env.str("RATE_LIMIT_PSP_READ", default="60/m"),
    # Deliveries with an invalid signature, per address (valid ones are never limited).
    "webhook_invalid": env.str("RATE_LIMIT_WEBHOOK_INVALID", default="60/m"),
    # The hosted payment page's card submissions (/pay/{token}/confirm, /complete), per IP.
    "payment_page": env.str("RATE_LIMIT_PAYMENT_PAGE", default="30/m"),
    # /health/ready, per IP: load balancers poll it a few times a second at most.
    "health_ready": env.str("RATE_LIMIT_HEALTH_READY", default="20/s"),
    # Requests whose API key is missing or wrong, per IP: each would cost a database read.
    "unauthenticated": env.str("RATE_LIMIT_UNAUTHENTICATED", default="20/s"),
}
# When the cache (Redis) is down: True lets requests through (and logs a
# warning), False answers 503. Payments matter more than limits: open by default.
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=True)
# Proxies whose X-Forwarded-For is believed (addresses or CIDR networks).
RATELIMIT_TRUSTED_PROXIES = env.list("RATELIMIT_TRUSTED_PROXIES", default=[])
# Behind a reverse proxy (an ingress, a load balancer): its X-Forwarded-Proto
# is believed (SECURE_PROXY_SSL_HEADER), and X-Forwarded-For from
# RATELIMIT_TRUSTED_PROXIES only. Production behind a proxy refuses to start
# without them: every caller would have the proxy's address, and one caller's
# wrong keys or passwords would count against all. Serving directly (no proxy),
# forwarded headers are ignored.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=bool(RATELIMIT_TRUSTED_PROXIES))
if BEHIND_PROXY and not RATELIMIT_TRUSTED_PROXIES and not DEBUG:
    raise ImproperlyConfigured(
        "BEHIND_PROXY is on but RATELIMIT_TRUSTED_PROXIES is empty: name the proxy's addresses "
        "(e.g. the ingress controller's pod network) so that each caller is counted apart."
    )
if not BEHIND_PROXY:
    RATELIMIT_TRUSTED_PROXIES = []
# The local-memory cache of the embedded default is per process; `make run`
# runs one gunicorn worker, where it is exact.
SILENCED_SYSTEM_CHECKS = [] if REDIS_URL else ["django_ratelimit.E003", "django_ratelimit.W001"]
# dj-stripe warns that STRIPE_API_HOST is set in production, "most likely
# unintended". It stays on, except where production settings knowingly run on
# localstripe (LOCALSTRIPE_QUIRKS: the cluster and the benchmarks).
if LOCALSTRIPE_QUIRKS and not DEBUG:
    SILENCED_SYSTEM_CHECKS.append("djstripe.W002")

# --- Metrics (GET /metrics) -------------------------------------------------------------
# Served to these networks, or to anyone with Authorization: Bearer METRICS_TOKEN.
# Direct callers only: a request that came through a trusted proxy (the public
# ingress) needs the token, whatever its address.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Who reads /health/ready's details (each dependency's state), directly, not through the proxy.
INTERNAL_NETWORKS = env.list("INTERNAL_NETWORKS", default=METRICS_ALLOWED_NETWORKS)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- CORS: no origin is allowed unless configured (the seed allowed "*"). ------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

# --- Security (production) ------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and container health checks probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health(/.*)?$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=64 * 1024)

# --- Operators' logins (PCI DSS 8) -------------------------------------------------------
# A lockout after repeated failures of one username from one address
# (django-axes), so that a stranger's wrong passwords lock only the stranger;
# a cap per username over all addresses, which spares the addresses the
# operator signed in from before (gateway.mfa.lockout); an idle timeout: the
# session ends after 15 minutes without a request (8.2.8). Then a second factor
# for every staff session (8.4.2, gateway.mfa; docs/operators.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "gateway.mfa.lockout.UsernameCapBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Tries during a lockout do not extend it (nor count twice towards the username's cap).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Failed logins of one username, from all addresses together within the cool-off,
# after which only addresses it signed in from in ADMIN_LOGIN_KNOWN_ADDRESS_DAYS may try.
ADMIN_LOGIN_USERNAME_LIMIT = env.int("ADMIN_LOGIN_USERNAME_LIMIT", default=30)
ADMIN_LOGIN_KNOWN_ADDRESS_DAYS = env.int("ADMIN_LOGIN_KNOWN_ADDRESS_DAYS", default=90)
# A right password does not wipe the pair's earlier failures: wrong second-factor
# codes count as failures (gateway.mfa), and signing in again must not reset them.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "gateway.core.ratelimit.client_ip"  # X-Forwarded-For only from trusted proxies
AXES_ENABLE_ADMIN = True
AXES_VERBOSE = False
SESSION_COOKIE_AGE = env.int("ADMIN_SESSION_IDLE_SECONDS", default=15 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Step-up: refunds above ADMIN_STEP_UP_ABOVE (per currency in minor units, as
# OTP_REQUIRED_ABOVE; "*:0" for every refund), revoking API keys, resetting a
# factor and new recovery codes need a second-factor check this recent.
ADMIN_STEP_UP_SECONDS = env.int("ADMIN_STEP_UP_SECONDS", default=300)
# Passkeys are bound to the back office's host (its relying party) and origin:
# by default the host and origin each request came to (Django's ALLOWED_HOSTS
# checked them); set both in production to the public name, e.g.
# ADMIN_WEBAUTHN_RP_ID=pay.example.com ADMIN_WEBAUTHN_ORIGINS=https://pay.example.com
ADMIN_WEBAUTHN_RP_ID = env.str("ADMIN_WEBAUTHN_RP_ID", default="")
ADMIN_WEBAUTHN_ORIGINS = env.list("ADMIN_WEBAUTHN_ORIGINS", default=[]) or CSRF_TRUSTED_ORIGINS
OTP_WEBAUTHN_ALLOWED_ORIGINS = ADMIN_WEBAUTHN_ORIGINS
if not ADMIN_WEBAUTHN_ORIGINS:
    SILENCED_SYSTEM_CHECKS.append("otp_webauthn.E030")  # the request's own origin (gateway.mfa.webauthn)
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_ID_CALLABLE = "gateway.mfa.webauthn.webauthn_rp_id"
OTP_WEBAUTHN_RP_NAME = "Payment gateway back office"
OTP_WEBAUTHN_HELPER_CLASS = "gateway.mfa.webauthn.GatewayWebAuthnHelper"
OTP_TOTP_ISSUER = "Payment gateway"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the admin's and the API docs' static files from gunicorn;
# `manage.py collectstatic` fills STATIC_ROOT (make run and the image do it).
# In production the hashed, compressed files come from collectstatic; in
# development and tests they are served straight from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Logging --------------------------------------------------------------------
# JSON lines in production, readable text in development; every record carries
# the request id of the request it belongs to.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
STRIPE_LOG_LEVEL = env.str("STRIPE_LOG_LEVEL", default="WARNING").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "gateway.core.logging.RequestIdFilter"},
        "redact_card_numbers": {"()": "gateway.core.logging.CardNumberRedactionFilter"},
    },
    "formatters": {
        "json": {
            "()": "gateway.core.logging.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact_card_numbers"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # kafka-python is chatty at INFO about every connection.
        "kafka": {"level": "WARNING"},
        # stripe-python logs request bodies, card numbers included, at DEBUG:
        # this logger never goes below INFO, whatever LOG_LEVEL says. At INFO it
        # writes two lines per PSP call (method and URL, then the status), which
        # the access line's Server-Timing and the PSP metrics already cover:
        # WARNING by default (issue #16: two records per payment), INFO on demand.
        "stripe": {"level": "INFO" if STRIPE_LOG_LEVEL == "INFO" else "WARNING"},
        "django.server": {"level": "WARNING"},
    },
}


# --- One-time codes -----------------------------------------------------------------
def _currency_thresholds(name: str, default: str = "") -> dict[str, int]:
    """ "usd:100000,eur:90000" or "*:100000" (minor units) -> {"usd": 100000, ...}."""
    thresholds = {}
    for item in filter(None, (part.strip() for part in env.str(name, default=default).split(","))):
        currency, _, amount = item.partition(":")
        if not amount.isdigit():
            raise ImproperlyConfigured(f"{name}: {item!r} is not currency:minor_units.")
        thresholds[currency.strip().lower()] = int(amount)
    return thresholds


OTP_REQUIRED_ABOVE = _currency_thresholds("OTP_REQUIRED_ABOVE")
ADMIN_STEP_UP_ABOVE = _currency_thresholds("ADMIN_STEP_UP_ABOVE", default="*:100000")
# The HMAC key of stored codes. In development it defaults to DJANGO_SECRET_KEY;
# production needs its own, so that neither secret's leak or rotation drags the other.
OTP_SECRET = env.str("OTP_SECRET", default="")
if not DEBUG and _ROLE_USES_PSP and (not OTP_SECRET or OTP_SECRET in (DEVELOPMENT_SECRET_KEY, SECRET_KEY)):
    raise ImproperlyConfigured(
        "OTP_SECRET must be set when DJANGO_DEBUG is off (production mode), to its own value "
        "(not the development key, not DJANGO_SECRET_KEY)."
    )
OTP_TTL_SECONDS = env.int("OTP_TTL_SECONDS", default=300)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)
OTP_RESEND_COOLDOWN_SECONDS = env.int("OTP_RESEND_COOLDOWN_SECONDS", default=30)
OTP_MAX_SENDS_PER_HOUR = env.int("OTP_MAX_SENDS_PER_HOUR", default=5)
OTP_PAYMENT_EXPIRY_MINUTES = env.int("OTP_PAYMENT_EXPIRY_MINUTES", default=30)
OTP_SENDER = env.str("OTP_SENDER", default="otp.delivery.EmailOtpSender")

# --- E-mail -----------------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:587 (or submission://… for STARTTLS);
# the console in development when unset.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# The console and in-memory backends would put one-time codes in the logs or
# nowhere: production (and any worker that sends codes) needs a real one.
_email_backend = vars()["EMAIL_BACKEND"]  # set by env.email_url just above
if (
    not DEBUG
    and GATEWAY_ROLE in ("web", "worker")
    and _email_backend
    in (
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    )
):
    raise ImproperlyConfigured(
        "EMAIL_URL must name an SMTP server when DJANGO_DEBUG is off: the console backend would write "
        "one-time codes to the log."
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="payments@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Payments ------------------------------------------------------------------------
# The PSP implementation behind payments.providers.PaymentProvider.
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="stripe_integration.provider.StripeProvider")
# A raw `card` object in a request is accepted (validated locally, tokenized at
# the PSP, never kept) only when this is on. On in development; in production
# it puts the merchant in PCI scope, so it is off unless set.
ACCEPT_RAW_CARD_DATA = env.bool("ACCEPT_RAW_CARD_DATA", default=DEBUG)
# Refuse writes without an Idempotency-Key (400 idempotency_key_required). Off by
# default because the seed's clients send none; without a key, a retried request
# is a new one (unless it repeats its payment_id: 409). On for new integrations.
IDEMPOTENCY_KEY_REQUIRED = env.bool("IDEMPOTENCY_KEY_REQUIRED", default=False)
# Idempotency keys are kept this long.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# /health/ready caches its Kafka and PSP checks this long, per process.
HEALTH_CHECK_CACHE_SECONDS = env.float("HEALTH_CHECK_CACHE_SECONDS", default=5.0)
# A request holds its Idempotency-Key this long. A claim left behind by a process
# that died (SIGKILL, or a database down when the release ran) is taken over by a
# retry after it; longer than the slowest request (a PSP call with its retries).
IDEMPOTENCY_LEASE_SECONDS = env.int(
    "IDEMPOTENCY_LEASE_SECONDS",
    default=int(STRIPE_TIMEOUT_SECONDS * (STRIPE_MAX_NETWORK_RETRIES + 1)) + 30,
)
# Active API clients are cached this long; a save or revoke drops the entry at once.
API_CLIENT_CACHE_SECONDS = env.int("API_CLIENT_CACHE_SECONDS", default=300)
