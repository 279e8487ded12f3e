"""Tracing: OpenTelemetry, off unless an OTLP endpoint is named (gateway.core.tracing).

OTEL_EXPORTER_OTLP_ENDPOINT (for example http://127.0.0.1:4318, OTLP over HTTP)
turns it on. The OpenTelemetry SDK reads its other standard variables itself
(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS, _TIMEOUT, OTEL_TRACES_SAMPLER,
OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*): docs/tracing.md.
"""

from gateway.settings.environment import env

TRACING_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
TRACING_ENABLED = bool(TRACING_ENDPOINT)
# The resource's service.name: one name for the web, worker and relay processes
# (their role is the resource attribute gateway.role).
TRACING_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="payment-gateway")
