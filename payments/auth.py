"""API-key authentication of merchants' back ends: `Authorization: Bearer <key>`.
API clients are the domain's data, so their authentication lives here; the
ground's gateway.core.auth.ApiKeyRequired is the permission that asks for one."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from gateway.core.errors import AuthenticationFailed
from gateway.core.ratelimit import unauthenticated_check, unauthenticated_count
from payments.api_keys import api_key_prefix
from payments.selectors import api_client_get_by_key

_NOT_BEARER = "Use the header Authorization: Bearer <key>."


def bearer_key(request) -> str:
    """The key of `Authorization: Bearer <key>`, read as DRF reads the header
    (bytes, split on ASCII whitespace only): "" when no header was sent.
    Raises ValueError, with the refusal's message ("" for the default one),
    when it is not one Bearer key in ASCII. ApiKeyAuthentication and the read
    route in front of Django (payments.read_route) both read it here."""
    parts = get_authorization_header(request).split()
    if not parts:
        return ""
    if parts[0].lower() != b"bearer" or len(parts) != 2:
        raise ValueError(_NOT_BEARER)
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("") from None


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a merchant back end by its API key.

    request.user and request.auth are both the ApiClient, so views read
    `request.auth` as "the client" and permission checks see an
    authenticated principal.
    """

    def authenticate(self, request):
        try:
            raw_key = bearer_key(request)
        except ValueError as exc:
            self._refuse(request, str(exc) or None)
        if not raw_key:
            return None  # ApiKeyRequired counts it, where a key is required
        # A valid key is never refused for what other callers sent: the budget
        # of wrong keys is consulted only once the lookup has failed.
        client = api_client_get_by_key(raw_key=raw_key)
        if client is None:
            self._refuse(request, "The API key is not valid or has been revoked.", raw_key=raw_key)
        return (client, client)

    @staticmethod
    def _refuse(request, message: str | None = None, *, raw_key: str = ""):
        """429 for an address, or a key prefix, over its budget of wrong keys; else 401, counted."""
        prefix = api_key_prefix(raw_key) if raw_key else None
        unauthenticated_check(request, key_prefix=prefix)
        unauthenticated_count(request, key_prefix=prefix)
        raise AuthenticationFailed(message) if message else AuthenticationFailed()

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of ApiKeyAuthentication (drf-spectacular)."""

    target_class = "payments.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer gw_…"}
