"""Logging helpers: the request id on every record, and a JSON formatter."""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from gateway.luhn import luhn_valid
from gateway.request_context import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line, with `level` and `logger` names that log
    pipelines expect."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        super().__init__(*args, **kwargs)


_PAN_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


# cvc=123, card[cvc]=123, "cvc": "123" (form-encoded or JSON).
_CVC = re.compile(r"""(cvc\]?["']?\s*[=:]\s*["']?)\d{3,4}""", re.IGNORECASE)


def redact_card_numbers(text: str) -> str:
    def replace(match: re.Match) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[REDACTED PAN]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()

    return _CVC.sub(r"\1[REDACTED]", _PAN_CANDIDATE.sub(replace, text))


_TRACEBACK_FORMATTER = logging.Formatter()


class CardNumberRedactionFilter(logging.Filter):
    """Defence in depth: a card number or CVC that reaches a log line anyway is masked.

    It rewrites the record itself, so every handler after it sees the masked
    text: the message, and the traceback and stack text too (an exception's
    message or a local's repr may hold what the request carried). The traceback
    is formatted here once and kept as exc_text, with exc_info dropped, so that
    no formatter (text or JSON) formats the raw exception again."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_card_numbers(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:
            record.exc_text = record.exc_text or _TRACEBACK_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_card_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_card_numbers(record.stack_info)
        return True
