"""The relays of the shards a request wrote are woken once, at its end."""

from __future__ import annotations

from gateway.events.outbox import outbox_publish_deferred


class OutboxPublishDeferredMiddleware:
    """Commits inside the request only note the shards they wrote; their
    relays are woken when the response is ready (outbox_publish_deferred)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with outbox_publish_deferred():
            return self.get_response(request)
