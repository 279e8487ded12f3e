"""The PSP: Stripe (localstripe in development, with its quirks), reconciliation
with it, and dj-stripe's mirror and keys."""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import (
    DEBUG,
    DEVELOPMENT_WEBHOOK_SECRET,
    env,
    required_in_production,
    role_uses_psp,
)
from gateway.settings.project import INSTALLED_APPS

# --- Stripe ---------------------------------------------------------------------
# The PSP implementation behind payments.providers.PaymentProvider.
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="stripe_integration.provider.StripeProvider")
# Real Stripe is used when STRIPE_SECRET_KEY is set and STRIPE_API_BASE is not.
# In development with no key, the gateway talks to localstripe.
LOCALSTRIPE_DEFAULT_BASE = "http://127.0.0.1:8420"
_stripe_key_from_env = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_SECRET_KEY = _stripe_key_from_env or required_in_production(
    "STRIPE_SECRET_KEY", "sk_test_localstripeDevelopmentKey000000", needed=role_uses_psp
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

# --- Reconciliation -------------------------------------------------------------
# Payments stuck in processing are settled from Stripe after this many minutes.
RECONCILE_AFTER_MINUTES = env.int("RECONCILE_AFTER_MINUTES", default=10)
# Stripe keeps an idempotency key for at least 24 hours. Within this many hours
# of a payment's creation, resending its charge with the same key is safe (Stripe
# answers with the first PaymentIntent); past it, reconciliation searches for the
# PaymentIntent by our metadata first and never charges blindly.
PSP_IDEMPOTENCY_WINDOW_HOURS = env.int("PSP_IDEMPOTENCY_WINDOW_HOURS", default=23)
# How far the PSP's search index may lag behind its objects (Stripe: about a
# minute). Reconciliation does not conclude "never charged" from a search
# before a payment has been left alone this long.
PSP_SEARCH_LAG_SECONDS = env.int("PSP_SEARCH_LAG_SECONDS", default=120)

# --- The dj-stripe mirror -------------------------------------------------------
# The dj-stripe mirror runs in batches: changes within this many seconds are
# mirrored by one task, each payment once (stripe_integration/mirror/batches.py).
DJSTRIPE_MIRROR_BATCH_SECONDS = env.int("DJSTRIPE_MIRROR_BATCH_SECONDS", default=2)
# The mirror is bookkeeping for operators, and it was the largest background
# cost of a payment: dj-stripe's sync takes ~25 queries and ~10-24 ms of CPU per
# payment (issue #16, docs/SCALING.md). So it runs on demand by default:
#   lazy   nothing after a change; an operator mirrors payments when wanted (the
#          admin action "Mirror into dj-stripe", `manage.py djstripe_mirror`, or
#          dj-stripe's own `djstripe_sync_models`);
#   batch  after every change, in batches (stripe_integration/mirror/batches.py);
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
if DJSTRIPE_MIRROR != "off":
    # dj-stripe and the mirror (stripe_integration.mirror) are installed only
    # when the mirror can run: off, neither they nor dj-stripe's 62 tables exist.
    INSTALLED_APPS.extend(["djstripe", "stripe_integration.mirror"])


# --- dj-stripe's keys, and live mode ----------------------------------------------
# Any key with "_live_" in it (sk_live_, rk_live_, a sync key too) moves real
# money or reads real data: every live-mode guard treats it so (here, and the
# refusal of development settings in gateway/settings/checks.py).
def _live_key(key: str) -> bool:
    return "_live_" in key


# localstripe knows no restricted keys (it takes sk_… only): with
# LOCALSTRIPE_QUIRKS the sync key may be an sk_test_ key of its own, by default
# this one, never STRIPE_SECRET_KEY.
LOCALSTRIPE_SYNC_KEY = "sk_test_localstripeMirrorKey000000000"  # noqa: S105  # nosec B105 (the stand-in's)
DJSTRIPE_SYNC_KEY = env.str("DJSTRIPE_SYNC_KEY", default=LOCALSTRIPE_SYNC_KEY if LOCALSTRIPE_QUIRKS else "")
STRIPE_LIVE_MODE = _live_key(STRIPE_SECRET_KEY) or _live_key(DJSTRIPE_SYNC_KEY)
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
