"""OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/tracing.md).

Off, nothing of OpenTelemetry is imported: every function here answers from
one setting (`tracing_traceparent()` is "", `tracing_span()` a shared null
context). On, `tracing_configure()` installs, once per process and after any
fork (each entry point calls it in the process that serves: Granian's
workers import the WSGI module after forking, Celery's pool children
call it from worker_process_init), a TracerProvider whose BatchSpanProcessor
exports over OTLP/HTTP, and instruments Django, Celery, mysqlclient (SQL text
with placeholders, never its parameters), urllib3 (the PSP) and Redis
(commands with their arguments as "?").

Never recorded: request and response bodies, headers (whatever
OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_* say), query strings, the
hosted page's token (a request's path is recorded as its route,
"/pay/<str:token>"), and an exception's message and traceback (spans leave
the process through _ExceptionTypeOnly: they name the exception's type).

The outbox keeps the traceparent of the request that wrote an event
(`tracing_span`), and whatever relays it later continues that trace
(`tracing_continue`): the Kafka message and the merchant's webhook carry it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import Iterator

from django.conf import settings

from gateway.core.logging import redact_card_numbers, redact_secrets
from gateway.core.process_exit import process_exit_call

logger = logging.getLogger("gateway.core.tracing")

_OFF = contextlib.nullcontext("")
_NONE: contextlib.AbstractContextManager[dict] = contextlib.nullcontext({})
_lock = threading.Lock()
_provider = None
_instrumented = False
# Attributes that could carry a secret: a query string (a token), a header.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.full", "url.path")
_DROPPED_ATTRIBUTES = ("url.query",)
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
NOT_RECORDED = "[not recorded]"


def tracing_configure(*, exporter=None) -> bool:
    """Installs tracing in this process (once: a child forked from a process
    that had it keeps it, with the SDK's at-fork hook restarting the export
    thread). True when on. `exporter`: one more, synchronous (the tests' in-memory one)."""
    global _provider, _instrumented
    if not settings.TRACING_ENABLED:
        return False
    with _lock:
        first = _provider is None
        if first:
            _provider = _tracer_provider()
        if exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            _provider.add_span_processor(SimpleSpanProcessor(_ExceptionTypeOnly(exporter)))
        elif first:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            _provider.add_span_processor(BatchSpanProcessor(_ExceptionTypeOnly(OTLPSpanExporter())))
            # The SDK flushes in an atexit hook, which Granian's workers never
            # run: a stopping worker lost its last batch of spans.
            process_exit_call(_provider.force_flush, 5000)
        if not _instrumented:
            _instrument()
            _instrumented = True
    if first:
        where = "a test exporter" if exporter else settings.TRACING_ENDPOINT
        logger.info("Tracing on: spans go to %s", where)
    return True


# What an exception event says beside its type: either may carry what a request sent.
_EXCEPTION_TEXT = ("exception.message", "exception.stacktrace")


class _ExceptionTypeOnly:
    """A span exporter in front of the real one: a span leaves the process
    naming the exception raised, never its message or traceback, whoever
    recorded it (our spans and the instrumentations alike: the SDK's
    record_exception and set_status_on_exception, Celery's set_status(str(exc))).
    A message can hold what a request carried (a card number, a token); the
    log line of the same error keeps it, masked (gateway.core.logging)."""

    def __init__(self, exporter):
        self.exporter = exporter

    def export(self, spans):
        return self.exporter.export([_exception_type_only(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def _exception_type_only(span):
    """The span without exception text: exception events keep their
    exception.type, and the status's description becomes that type (a
    description with no exception event to name one, an instrumentation's own
    text, is masked as a log line is). Most spans have neither: returned as they are."""
    if not span.status.description and not any(event.name == "exception" for event in span.events):
        return span
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    events, exception_type = [], None
    for event in span.events:
        if event.name != "exception":
            events.append(event)
            continue
        attributes = {k: v for k, v in (event.attributes or {}).items() if k not in _EXCEPTION_TEXT}
        exception_type = attributes.get("exception.type") or exception_type
        events.append(Event(event.name, attributes, event.timestamp))
    description = span.status.description
    if description:
        description = exception_type or redact_secrets(redact_card_numbers(description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code, description),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _tracer_provider():
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create(
        {"service.name": settings.TRACING_SERVICE_NAME, "gateway.role": settings.GATEWAY_ROLE}
    )
    provider = TracerProvider(resource=resource)
    trace.set_tracer_provider(provider)
    return provider


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    DjangoInstrumentor().instrument(
        request_hook=_scrub_request, response_hook=_scrub_response, is_sql_commentor_enabled=False
    )
    # OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS could name `body`: no request attribute is copied.
    _DjangoMiddleware._traced_request_attrs = []
    CeleryInstrumentor().instrument()
    if importlib.util.find_spec("MySQLdb") is not None:  # MariaDB's driver (not on SQLite-only installs)
        from opentelemetry.instrumentation.mysqlclient import MySQLClientInstrumentor

        # capture_parameters stays False (its default): a statement's text, never its values.
        MySQLClientInstrumentor().instrument(enable_commenter=False)
    # The PSP client's headers carry the Stripe secret key: urllib3's
    # instrumentation records headers named by these variables, so none is.
    for name in [n for n in os.environ if n.startswith("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT")]:
        del os.environ[name]
    URLLib3Instrumentor().instrument(url_filter=_without_query)
    RedisInstrumentor().instrument()


def _uninstrument() -> None:
    """Undoes _instrument (the tests that turn tracing on, in a process shared with others)."""
    global _instrumented
    _instrumented = False
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    instrumentors = [DjangoInstrumentor, CeleryInstrumentor, URLLib3Instrumentor, RedisInstrumentor]
    if importlib.util.find_spec("MySQLdb") is not None:
        from opentelemetry.instrumentation.mysqlclient import MySQLClientInstrumentor

        instrumentors.append(MySQLClientInstrumentor)
    for instrumentor in instrumentors:
        instrumentor().uninstrument()


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


def _scrub_request(span, request) -> None:
    """The server span's attributes, once the instrumentation has set them: the
    path without its query, no header."""
    if not span.is_recording():
        return
    for key, value in dict(span.attributes or {}).items():
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            span.set_attribute(key, _without_query(value))
        elif key in _DROPPED_ATTRIBUTES or key.startswith(_HEADER_PREFIXES):
            span.set_attribute(key, NOT_RECORDED)


def _scrub_response(span, request, response) -> None:
    """Once the URL is resolved: the path becomes its route (no token of the
    hosted page's URL), and response headers are dropped as request headers are."""
    if not span.is_recording():
        return
    match = getattr(request, "resolver_match", None)
    route = f"/{match.route}" if match is not None and match.route else None
    for key, value in dict(span.attributes or {}).items():
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            span.set_attribute(key, route or _without_query(value))
        elif key in _DROPPED_ATTRIBUTES or key.startswith(_HEADER_PREFIXES):
            span.set_attribute(key, NOT_RECORDED)


def tracing_traceparent() -> str:
    """The W3C traceparent of the current span, or "" (tracing off, no span)."""
    if not settings.TRACING_ENABLED:
        return ""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def tracing_span(name: str, attributes: dict | None = None) -> contextlib.AbstractContextManager[str]:
    """A span of ours around a block, as a child of the current one; yields its
    traceparent ("" when off)."""
    if not settings.TRACING_ENABLED:
        return _OFF
    return _span(name, attributes)


@contextlib.contextmanager
def _span(name: str, attributes: dict) -> Iterator[str]:
    from opentelemetry import trace

    with trace.get_tracer("gateway").start_as_current_span(name, attributes=attributes):
        yield tracing_traceparent()


def tracing_continue(
    traceparent: str, name: str, *, kind: str = "producer", attributes: dict | None = None
) -> contextlib.AbstractContextManager[dict]:
    """Continues a stored trace: a span `name` whose parent is `traceparent`
    (as the outbox kept it), linked to the span current here (a relay task's,
    say) when there is one. Yields the headers that carry the trace on
    (traceparent, and tracestate if any), to put on a Kafka message or an HTTP
    request. Tracing off here but on where the row was written: the stored
    traceparent is passed on as it is. No traceparent: no span, no header."""
    if not traceparent:
        return _NONE
    if not settings.TRACING_ENABLED:
        return contextlib.nullcontext({"traceparent": traceparent})
    return _continue(traceparent, name, kind, attributes)


@contextlib.contextmanager
def _continue(traceparent: str, name: str, kind: str, attributes: dict | None) -> Iterator[dict]:
    if _provider is None:  # a process no entry point set up (a relay of any kind): now
        tracing_configure()
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract({"traceparent": traceparent})
    here = trace.get_current_span().get_span_context()
    links = [trace.Link(here)] if here.is_valid else []
    kinds = {"producer": trace.SpanKind.PRODUCER, "client": trace.SpanKind.CLIENT}
    tracer = trace.get_tracer("gateway")
    span_kind = kinds.get(kind, trace.SpanKind.INTERNAL)
    with tracer.start_as_current_span(
        name, context=parent, kind=span_kind, links=links, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        yield carrier
