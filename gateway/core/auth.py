"""The API's permission: a key is required (payments.auth authenticates it)."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated

from gateway.core.ratelimit import unauthenticated_check, unauthenticated_count


class ApiKeyRequired(IsAuthenticated):
    """IsAuthenticated, and a request that sent no key at all is counted against
    its IP's budget of unauthenticated requests (429 once it is spent)."""

    def has_permission(self, request, view) -> bool:
        if super().has_permission(request, view):
            return True
        unauthenticated_check(request)
        unauthenticated_count(request)
        return False
