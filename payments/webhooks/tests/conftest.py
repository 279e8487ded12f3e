"""Fixtures of the webhooks tests: a receiver on loopback, a clock the test
moves, and events committed to the outbox."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from gateway.events.models import OutboxEvent
from gateway.events.signals import outbox_committed_send
from payments.kafka_events import topics_for
from payments.webhooks.services import webhook_endpoint_create


class Receiver:
    """A merchant's endpoint: an http.server on 127.0.0.1, in a thread. It
    keeps every request and answers the next status of `answers` (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.redirect_to = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status = owner.answers.pop(0) if owner.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", owner.redirect_to or "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def webhook_settings(settings):
    """In-process Celery, local URLs allowed, Kafka off (events wait in the outbox)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EAGER_TASKS_IN_THREAD = False
    settings.WEBHOOK_ALLOW_LOCAL_URLS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300]
    settings.KAFKA_BROKERS = []
    return settings


class Clock:
    def __init__(self):
        self.current = timezone.now().replace(microsecond=0)

    def now(self):
        return self.current

    def advance(self, seconds: float):
        self.current += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    """django.utils.timezone.now, moved only by clock.advance()."""
    moving = Clock()
    monkeypatch.setattr(timezone, "now", moving.now)
    return moving


def payment_payload(*, event_id: str, event_type: str, client_id: int, payment_id: str = "pay_wh_1") -> dict:
    return {
        "id": event_id,
        "type": event_type,
        "version": 1,
        "occurred_at": timezone.now().isoformat(),
        "payment": {
            "payment_id": payment_id,
            "client_id": client_id,
            "status": "succeeded",
            "amount": "19.99",
        },
        "actor": "api:test",
        "request_id": None,
        "details": {"note": "ünïcode"},
    }


@pytest.fixture
def commit_event(django_capture_on_commit_callbacks):
    """commit_event(client, type): an outbox row written and committed as a
    payment's change writes it, with the after-commit signal; returns the row.
    (Written directly, not through outbox_record, so nothing goes to Kafka
    when the suite runs with it.)"""

    def commit(client, event_type: str = "payment.succeeded", payment_id: str = "pay_wh_1") -> OutboxEvent:
        event_id = uuid.uuid4()
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            row = OutboxEvent.objects.create(
                event_id=event_id,
                type=event_type,
                aggregate_type="payment",
                aggregate_id=payment_id,
                topics=topics_for(event_type),
                payload=payment_payload(
                    event_id=str(event_id), event_type=event_type, client_id=client.pk, payment_id=payment_id
                ),
            )
            transaction.on_commit(outbox_committed_send)
        return row

    return commit


@pytest.fixture
def endpoint_for(webhook_settings, django_capture_on_commit_callbacks):
    def create(client, url: str, events=("*",)):
        with django_capture_on_commit_callbacks(execute=True):
            return webhook_endpoint_create(client=client, url=url, events=list(events))

    return create
