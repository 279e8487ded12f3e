"""One-time codes (otp), and the e-mail that carries them."""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import (
    DEBUG,
    DEVELOPMENT_SECRET_KEY,
    currency_thresholds,
    env,
    role_uses_psp,
)
from gateway.settings.project import SECRET_KEY

# --- One-time codes -----------------------------------------------------------------
# Payments above these amounts, in minor units per currency ("usd:100000,eur:90000";
# "*:100000" for every currency not listed), are held for a one-time code.
# Empty: only those created with require_otp.
OTP_REQUIRED_ABOVE = currency_thresholds("OTP_REQUIRED_ABOVE")
# The HMAC key of stored codes. In development it defaults to DJANGO_SECRET_KEY;
# production needs its own, so that neither secret's leak or rotation drags the other.
OTP_SECRET = env.str("OTP_SECRET", default="")
if not DEBUG and role_uses_psp and (not OTP_SECRET or OTP_SECRET in (DEVELOPMENT_SECRET_KEY, SECRET_KEY)):
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
    and role_uses_psp
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
