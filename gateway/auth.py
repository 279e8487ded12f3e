"""API-key authentication: `Authorization: Bearer <key>`."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header

from gateway.errors import AuthenticationFailed


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a merchant back end by its API key.

    request.user and request.auth are both the ApiClient, so views read
    `request.auth` as "the client" and permission checks see an
    authenticated principal.
    """

    keyword = b"bearer"

    def authenticate(self, request):
        from payments.selectors import api_client_get_by_key

        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise AuthenticationFailed("Use the header Authorization: Bearer <key>.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed() from exc
        client = api_client_get_by_key(raw_key=raw_key)
        if client is None:
            raise AuthenticationFailed("The API key is not valid or has been revoked.")
        return (client, client)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return 'Bearer realm="api"'
