"""Events a request wrote are relayed by one task asked for at its end."""

from __future__ import annotations

from gateway.events.outbox import outbox_publish_deferred


class OutboxPublishDeferredMiddleware:
    """Commits inside the request only note that a relay is due; one relay
    task is asked for when the response is ready (outbox_publish_deferred)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with outbox_publish_deferred():
            return self.get_response(request)
