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


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a merchant back end by its API key.

    request.user and request.auth are both the ApiClient, so views read
    `request.auth` as "the client" and permission checks see an
    authenticated principal.
    """

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None  # ApiKeyRequired counts it, where a key is required
        if parts[0].lower() != self.keyword or len(parts) != 2:
            self._refuse(request, "Use the header Authorization: Bearer <key>.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            self._refuse(request)
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
