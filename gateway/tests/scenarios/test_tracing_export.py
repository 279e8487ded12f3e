"""Spans leave a server worker that stops (issue #28), inside `make test`.

The whole trace is read back from Jaeger by test_tracing_jaeger.py, under
`make test-tracing` (Jaeger is built from source, minutes on a fresh machine).
What broke without anyone seeing, because that test is not in `make test`:
Granian's workers are multiprocessing children, which end without running
atexit hooks, and the SDK flushed its last batch in one. The request's spans
were never sent. Here the real server exports over OTLP/HTTP to a sink in the
test that stores what it is sent; the request is the last thing the worker
does before SIGTERM, and its spans must arrive.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import server_start


class _OtlpSink:
    """An OTLP/HTTP endpoint that keeps the bodies POSTed to /v1/traces."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/traces":
                    bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_stopping_worker_sends_the_spans_of_its_last_request(merchant):
    sink = _OtlpSink()
    traced = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_SERVICE_NAME": "gateway-export-test",
        # Longer than the test: only the flush at the worker's exit can send them.
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
    }
    server, base = server_start(**traced)
    try:
        answer = requests.get(
            f"{base}/api/v1/payments/pay_never_made",
            headers={"Authorization": f"Bearer {merchant.raw_key}"},
            timeout=10,
        )
        assert answer.status_code == 404
        assert sink.bodies == []  # nothing sent yet: the batch waits for its minute
    finally:
        server.terminate()
        server.wait(timeout=30)
        sink.close()

    sent = b"".join(sink.bodies)
    assert b"gateway-export-test" in sent  # the resource's service name
    assert b"/api/v1/payments/" in sent  # the request's own span
