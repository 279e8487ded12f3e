"""The Django project: its keys and hosts, apps, middleware, URLs, templates,
languages and time, and static files."""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import BASE_DIR, DEBUG, DEVELOPMENT_SECRET_KEY, env, required_in_production

VERSION = "0.1.0"
SERVICE_NAME = "payment-gateway"

# --- Secret key and hosts -------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or required_in_production(
    "DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY
)
# Earlier values of DJANGO_SECRET_KEY, comma-separated, while it is rotated:
# sessions, signed values and Idempotency-Key fingerprints made under them stay valid.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")

SERVER_PORT = env.int("SERVER_PORT", default=8085)

# --- Apps, middleware, URLs, templates ------------------------------------------
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
    # Sessions, CSRF, the user, its second factor and messages are for the
    # admin and the pages, not /api/ (gateway/core/browser_only.py).
    "gateway.core.browser_only.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "gateway.core.browser_only.CsrfViewMiddleware",
    "gateway.core.browser_only.AuthenticationMiddleware",
    # request.user.is_verified(); then no admin page without a second factor.
    "gateway.core.browser_only.OTPMiddleware",
    "gateway.mfa.middleware.AdminMfaMiddleware",
    "gateway.core.browser_only.MessageMiddleware",
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

# --- Languages and time ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
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
