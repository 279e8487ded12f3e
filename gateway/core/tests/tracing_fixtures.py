"""Tracing on, into memory, for the tests that read spans (gateway.core.tracing)."""

import pytest
from django.test import override_settings

from gateway.core import tracing


@pytest.fixture(scope="module")
def spans():
    """Tracing on in this process, into memory; undone after the module."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    with override_settings(TRACING_ENABLED=True):
        assert tracing.tracing_configure(exporter=exporter) is True
        yield exporter
        tracing._uninstrument()
