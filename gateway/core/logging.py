"""Logging helpers: the request id on every record, and a JSON formatter."""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from gateway.core.luhn import luhn_valid
from gateway.core.request_context import current_request_id


class RequestIdFilter(logging.Filter):
    """The request id on every record: the current request's, or, for Django's
    own `django.request` lines (written after the middleware has returned), the
    id the middleware put on the request the record carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request = getattr(record, "request", None)
            record.request_id = current_request_id() or getattr(request, "request_id", None) or "-"
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line, with `level` and `logger` names that log
    pipelines expect."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        super().__init__(*args, **kwargs)


# A run of 13-19 digits (spaces or dashes allowed) that is not part of a
# decimal number: Celery's "succeeded in 0.0421337713209876s" is a timing.
_PAN_CANDIDATE = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?!\d|\.\d)")


# cvc=123, card[cvc]=123, "cvc": "123" (form-encoded or JSON).
# Also URL-encoded, as a form body shows it: card%5Bcvc%5D=123.
_CVC = re.compile(r"""(cvc(?:\]|%5D)?["']?\s*[=:]\s*["']?)\d{3,4}""", re.IGNORECASE)


def redact_card_numbers(text: str) -> str:
    def replace(match: re.Match) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[REDACTED PAN]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()

    return _CVC.sub(r"\1[REDACTED]", _PAN_CANDIDATE.sub(replace, text))


# Bearer secrets that a path or a message may carry: a hosted payment page's
# signed link (/pay/<token> authorises paying the order), a merchant webhook's
# signing secret, a PaymentIntent's client secret.
_PAY_LINK = re.compile(r"(/pay/)[^/\s\"'?#]+")
_WEBHOOK_SECRET = re.compile(r"(whsec_)[A-Za-z0-9+/=]+")


def redact_secrets(text: str) -> str:
    text = _PAY_LINK.sub(r"\1[REDACTED]", text)
    text = _WEBHOOK_SECRET.sub(r"\1[REDACTED]", text)
    return _CLIENT_SECRET_VALUE.sub(lambda m: m.group(1) + "[REDACTED]", text)


def _redacted(text: str) -> str:
    return redact_secrets(redact_card_numbers(text))


_TRACEBACK_FORMATTER = logging.Formatter()


class CardNumberRedactionFilter(logging.Filter):
    """Defence in depth: a card number or CVC that reaches a log line anyway is
    masked, and so are bearer secrets (redact_secrets: payment links, webhook
    secrets, client secrets).

    It rewrites the record itself, so every handler after it sees the masked
    text: the message, and the traceback and stack text too (an exception's
    message or a local's repr may hold what the request carried). The traceback
    is formatted here once and kept as exc_text, with exc_info dropped, so that
    no formatter (text or JSON) formats the raw exception again."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _redacted(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        path = getattr(record, "path", None)
        if isinstance(path, str):  # the request log's structured field
            record.path = redact_secrets(path)
        if record.exc_info:
            record.exc_text = record.exc_text or _TRACEBACK_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = _redacted(record.exc_text)
        if record.stack_info:
            record.stack_info = _redacted(record.stack_info)
        return True


# A PaymentIntent's client_secret lets a browser confirm the payment: it goes to
# the merchant in the answer that makes it and is never kept (database, stored
# webhooks, the mirror). Stripe also puts it in next_action's redirect URLs.
_CLIENT_SECRET_PARAM = re.compile(
    r"((?:payment_intent|setup_intent)_client_secret(?:=|%3D|\\u003[dD]))[^&#\s\"\\%]*", re.IGNORECASE
)
_CLIENT_SECRET_VALUE = re.compile(r"((?:pi|seti)_[A-Za-z0-9]+_secret_|src_client_secret_)[A-Za-z0-9]+")
REDACTED = "redacted"


def client_secrets_scrubbed(value):
    """`value` (JSON-like: dicts, lists, strings) with every client secret replaced:
    `client_secret` fields, `…_client_secret=` URL parameters, and `pi_…_secret_…`
    values wherever they appear."""
    if isinstance(value, dict):
        return {
            key: (REDACTED if key == "client_secret" and item else client_secrets_scrubbed(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [client_secrets_scrubbed(item) for item in value]
    if isinstance(value, str):
        value = _CLIENT_SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, value)
        return _CLIENT_SECRET_VALUE.sub(lambda m: m.group(1) + REDACTED, value)
    return value
