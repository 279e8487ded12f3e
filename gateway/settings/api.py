"""The HTTP API: REST framework and OpenAPI, rate limits and the proxy in front,
metrics and health, CORS."""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import DEBUG, env
from gateway.settings.project import VERSION

# --- REST framework and OpenAPI ----------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gateway.core.auth.ApiKeyRequired"],
    "DEFAULT_PARSER_CLASSES": ["gateway.core.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["gateway.core.parsers.JSONRenderer"],
    "EXCEPTION_HANDLER": "gateway.core.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["gateway.core.ratelimit.ClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# Active API clients are cached this long; a save or revoke drops the entry at once.
API_CLIENT_CACHE_SECONDS = env.int("API_CLIENT_CACHE_SECONDS", default=300)
# GET one payment (or its status) answered in front of Django's dispatch, with
# the view's own parts (payments/read_route.py); false sends it through Django.
PAYMENT_READ_ROUTE = env.bool("PAYMENT_READ_ROUTE", default=True)
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
    # GET /stripe/payment/{id} calls on to the PSP (only for a payment whose
    # outcome can still change there), per client: Stripe's read limit is the platform's.
    "psp_read": env.str("RATE_LIMIT_PSP_READ", default="60/m"),
    # Stripe's deliveries with an invalid signature, per address (valid ones are
    # never limited; every delivery, valid or not, is stored).
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

# --- The reverse proxy in front -------------------------------------------------
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

# --- Metrics (GET /metrics) and health ----------------------------------------------------
# Served to these networks, or to anyone with Authorization: Bearer METRICS_TOKEN.
# Direct callers only: a request that came through a trusted proxy (the public
# ingress) needs the token, whatever its address.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Who reads /health/ready's details (each dependency's state), directly, not through the proxy.
INTERNAL_NETWORKS = env.list("INTERNAL_NETWORKS", default=METRICS_ALLOWED_NETWORKS)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# /health/ready caches its Kafka and PSP checks this long, per process.
HEALTH_CHECK_CACHE_SECONDS = env.float("HEALTH_CHECK_CACHE_SECONDS", default=5.0)

# --- CORS: no origin is allowed unless configured (the seed allowed "*"). ------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
