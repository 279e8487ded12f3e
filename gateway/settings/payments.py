"""Payments: card data, idempotency, client-side confirmation and the hosted
payment page, and webhooks to merchants."""

from gateway.settings.environment import DEBUG, env, seconds_list
from gateway.settings.psp import (
    LOCALSTRIPE_QUIRKS,
    STRIPE_API_BASE,
    STRIPE_MAX_NETWORK_RETRIES,
    STRIPE_TIMEOUT_SECONDS,
)

# --- Payments -------------------------------------------------------------------
# A raw `card` object in a request is accepted (validated locally, tokenized at
# the PSP, never kept) only when this is on. On in development; in production
# it puts the merchant in PCI scope, so it is off unless set.
ACCEPT_RAW_CARD_DATA = env.bool("ACCEPT_RAW_CARD_DATA", default=DEBUG)

# --- Idempotency ----------------------------------------------------------------
# Refuse writes without an Idempotency-Key (400 idempotency_key_required). Off by
# default because the seed's clients send none; without a key, a retried request
# is a new one (unless it repeats its payment_id: 409). On for new integrations.
IDEMPOTENCY_KEY_REQUIRED = env.bool("IDEMPOTENCY_KEY_REQUIRED", default=False)
# Idempotency keys are kept this long.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# A request holds its Idempotency-Key this long. A claim left behind by a process
# that died (SIGKILL, or a database down when the release ran) is taken over by a
# retry after it; longer than the slowest request (a PSP call with its retries).
IDEMPOTENCY_LEASE_SECONDS = env.int(
    "IDEMPOTENCY_LEASE_SECONDS",
    default=int(STRIPE_TIMEOUT_SECONDS * (STRIPE_MAX_NETWORK_RETRIES + 1)) + 30,
)

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

# --- Webhooks to merchants (payments.webhooks, docs/api.md) -------------------------
# Seconds between attempts of one delivery: attempt n failing schedules attempt
# n+1 after the n-th value; after the last, the delivery is failed (Svix's schedule:
# 8 attempts over about 27 hours).
WEBHOOK_RETRY_SCHEDULE = seconds_list("WEBHOOK_RETRY_SCHEDULE", default="5,300,1800,7200,18000,36000,36000")
# One attempt's time limit, connecting and reading together.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# An endpoint whose every attempt failed for this long is disabled (Svix: 5 days).
WEBHOOK_DISABLE_AFTER_HOURS = env.float("WEBHOOK_DISABLE_AFTER_HOURS", default=120.0)
# The sweeper's period (retries when due, fan-outs an after-commit task missed).
WEBHOOK_SWEEP_SECONDS = env.int("WEBHOOK_SWEEP_SECONDS", default=5)
# http:// and loopback or private addresses as endpoints, for trying webhooks
# locally. Development only; link-local addresses (cloud metadata) never.
WEBHOOK_ALLOW_LOCAL_URLS = env.bool("WEBHOOK_ALLOW_LOCAL_URLS", default=DEBUG)
