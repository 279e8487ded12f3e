"""Security: the production headers and cookies, and operators' logins to the
back office (django-axes, sessions, step-up, WebAuthn, passwords)."""

from datetime import timedelta

from gateway.settings.api import BEHIND_PROXY
from gateway.settings.environment import DEBUG, currency_thresholds, env

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
ADMIN_STEP_UP_ABOVE = currency_thresholds("ADMIN_STEP_UP_ABOVE", default="*:100000")
# Passkeys are bound to the back office's host (its relying party) and origin:
# by default the host and origin each request came to (Django's ALLOWED_HOSTS
# checked them); set both in production to the public name, e.g.
# ADMIN_WEBAUTHN_RP_ID=pay.example.com ADMIN_WEBAUTHN_ORIGINS=https://pay.example.com
ADMIN_WEBAUTHN_RP_ID = env.str("ADMIN_WEBAUTHN_RP_ID", default="")
ADMIN_WEBAUTHN_ORIGINS = env.list("ADMIN_WEBAUTHN_ORIGINS", default=[]) or CSRF_TRUSTED_ORIGINS
OTP_WEBAUTHN_ALLOWED_ORIGINS = ADMIN_WEBAUTHN_ORIGINS
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_ID_CALLABLE = "gateway.mfa.webauthn.webauthn_rp_id"
OTP_WEBAUTHN_RP_NAME = "Payment gateway back office"
OTP_WEBAUTHN_HELPER_CLASS = "gateway.mfa.webauthn.GatewayWebAuthnHelper"
OTP_TOTP_ISSUER = "Payment gateway"

# --- Passwords --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
