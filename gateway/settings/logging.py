"""Logging: JSON lines in production, readable text in development; every record
carries the request id of the request it belongs to, and card numbers are masked."""

from gateway.settings.environment import DEBUG, env

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
