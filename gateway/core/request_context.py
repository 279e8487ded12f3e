"""The id of the request being served, readable from anywhere (logs, errors, events)."""

from __future__ import annotations

import contextvars
import re
import uuid

# A client-supplied id is echoed only when it is short and plain, so that it
# cannot inject into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def request_id_for(incoming: str) -> str:
    """The X-Request-ID a client sent when it is short and plain, or a new one."""
    return incoming if _VALID_REQUEST_ID.fullmatch(incoming) else f"req_{uuid.uuid4().hex}"
