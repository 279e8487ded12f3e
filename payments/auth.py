"""API-key authentication of merchants' back ends: `Authorization: Bearer <key>`.
API clients are the domain's data, so their authentication lives here; the
ground's gateway.auth.ApiKeyRequired is the permission that asks for one."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from gateway.errors import AuthenticationFailed
from gateway.ratelimit import unauthenticated_check, unauthenticated_count
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
        # The per-IP limit on wrong keys is checked before a database read, and
        # before any refusal; a key found in the cache costs neither.
        client = api_client_get_by_key(
            raw_key=raw_key, before_database_read=lambda: unauthenticated_check(request)
        )
        if client is None:
            self._refuse(request, "The API key is not valid or has been revoked.")
        return (client, client)

    @staticmethod
    def _refuse(request, message: str | None = None):
        """429 for an IP over its limit of wrong keys, else 401, counted."""
        unauthenticated_check(request)
        unauthenticated_count(request)
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
