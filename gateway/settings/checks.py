"""The start-up refusals that span concerns, and the system checks silenced on purpose.

A value's own check stays beside it (DJANGO_ALLOWED_HOSTS, GATEWAY_ROLE,
OTP_SECRET, EMAIL_URL, BEHIND_PROXY, ...); here are those that weigh settings of
several modules together.
"""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import DEBUG, DEVELOPMENT_SECRET_KEY, DEVELOPMENT_WEBHOOK_SECRET
from gateway.settings.payments import WEBHOOK_ALLOW_LOCAL_URLS
from gateway.settings.project import SECRET_KEY
from gateway.settings.psp import LOCALSTRIPE_QUIRKS, STRIPE_LIVE_MODE, STRIPE_WEBHOOK_SECRET
from gateway.settings.security import ADMIN_WEBAUTHN_ORIGINS
from gateway.settings.storage import DATABASES, REDIS_URL

# --- Production runs on its real services ---------------------------------------
# Production never falls back to the embedded defaults: a per-process cache
# would count rate limits per worker and keep a revoked key alive in the other
# workers; SQLite is one file on one host; with no broker nothing would run
# reconciliation or the outbox sweeper.
if not DEBUG and not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DJANGO_DEBUG is off (production mode): rate limits, one-time codes "
        "and the API-key cache must be shared by every process, and Celery needs a broker."
    )
if not DEBUG and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured(
        "DATABASE_URL must name MySQL or MariaDB when DJANGO_DEBUG is off (production mode), not SQLite."
    )

# --- Live money never runs with development settings ------------------------------
# STRIPE_LIVE_MODE: any key with "_live_" in it (gateway/settings/psp.py).
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

# --- System checks silenced on purpose --------------------------------------------
SILENCED_SYSTEM_CHECKS = [
    # Django looks for CsrfViewMiddleware by its exact path; ours is that class,
    # skipped under /api/ (gateway/core/browser_only.py). gateway.core checks
    # in its place that a CsrfViewMiddleware is installed (core.E001).
    "security.W003",
    # The local-memory cache of the embedded default is per process; `make run`
    # runs one server worker, where it is exact.
    *([] if REDIS_URL else ["django_ratelimit.E003", "django_ratelimit.W001"]),
    # dj-stripe warns that STRIPE_API_HOST is set in production, "most likely
    # unintended". It stays on, except where production settings knowingly run on
    # localstripe (LOCALSTRIPE_QUIRKS: the cluster and the benchmarks).
    *(["djstripe.W002"] if LOCALSTRIPE_QUIRKS and not DEBUG else []),
    # Without ADMIN_WEBAUTHN_ORIGINS, passkeys take the request's own origin (gateway.mfa.webauthn).
    *([] if ADMIN_WEBAUTHN_ORIGINS else ["otp_webauthn.E030"]),
]
